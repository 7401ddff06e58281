// Sync runs in SQLite: one row per run, with its outcome, counts and warnings.
import type { RunRepository, RunResult, RunRow } from "../state-repositories.js";
import type { SqliteDatabase } from "./sqlite-database.js";

interface RunRowSql {
  id: number;
  mirror: string;
  kind: string;
  project: string | null;
  started_at: number;
  ended_at: number | null;
  outcome: RunRow["outcome"];
  files_added: number;
  files_removed: number;
  bytes_added: number;
  bytes_removed: number;
  files_total: number;
  bytes_total: number;
  upstream_requests: number;
  error: string | null;
  warnings: string;
  log_path: string | null;
}

function toRunRow(row: RunRowSql): RunRow {
  return {
    id: row.id,
    mirror: row.mirror,
    kind: row.kind,
    project: row.project,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outcome: row.outcome,
    filesAdded: row.files_added,
    filesRemoved: row.files_removed,
    bytesAdded: row.bytes_added,
    bytesRemoved: row.bytes_removed,
    filesTotal: row.files_total,
    bytesTotal: row.bytes_total,
    upstreamRequests: row.upstream_requests,
    error: row.error,
    warnings: JSON.parse(row.warnings) as string[],
    logPath: row.log_path,
  };
}

export class SqliteRunRepository implements RunRepository {
  readonly #stmts;

  constructor(db: SqliteDatabase) {
    this.#stmts = {
      insertRun: db.prepare(
        "INSERT INTO runs (mirror, kind, project, started_at, outcome, log_path) VALUES (?, ?, ?, ?, 'running', ?)",
      ),
      finishRun: db.prepare(
        `UPDATE runs SET ended_at = @endedAt, outcome = @outcome, files_added = @filesAdded, files_removed = @filesRemoved,
         bytes_added = @bytesAdded, bytes_removed = @bytesRemoved, files_total = @filesTotal, bytes_total = @bytesTotal,
         upstream_requests = @upstreamRequests, error = @error, warnings = @warnings WHERE id = @id`,
      ),
      getRun: db.prepare("SELECT * FROM runs WHERE id = ?"),
      listRuns: db.prepare("SELECT * FROM runs WHERE mirror = ? AND id < ? ORDER BY id DESC LIMIT ?"),
      lastRunWithOutcome: db.prepare(
        "SELECT * FROM runs WHERE mirror = ? AND outcome = ? AND project IS NULL ORDER BY id DESC LIMIT 1",
      ),
      runOutcomeCounts: db.prepare(
        "SELECT mirror, outcome, COUNT(*) AS n FROM runs GROUP BY mirror, outcome",
      ),
      countRuns: db.prepare("SELECT COUNT(*) FROM runs WHERE mirror = ?").pluck(),
      abandonRuns: db.prepare(
        "UPDATE runs SET outcome = 'failed', ended_at = ?, error = ? WHERE mirror = ? AND outcome = 'running'",
      ),
      setLogPath: db.prepare("UPDATE runs SET log_path = ? WHERE id = ?"),
      runningRuns: db.prepare("SELECT * FROM runs WHERE outcome = 'running' ORDER BY started_at, id"),
    };
  }

  async start(
    mirror: string,
    kind: string,
    project: string | null,
    now: number,
    logPath: string | null,
  ): Promise<number> {
    return Number(this.#stmts.insertRun.run(mirror, kind, project, now, logPath).lastInsertRowid);
  }

  async setLogPath(id: number, logPath: string): Promise<void> {
    this.#stmts.setLogPath.run(logPath, id);
  }

  async finish(id: number, result: RunResult, now: number): Promise<void> {
    this.#stmts.finishRun.run({
      id,
      endedAt: now,
      outcome: result.outcome,
      filesAdded: result.filesAdded ?? 0,
      filesRemoved: result.filesRemoved ?? 0,
      bytesAdded: result.bytesAdded ?? 0,
      bytesRemoved: result.bytesRemoved ?? 0,
      filesTotal: result.filesTotal ?? 0,
      bytesTotal: result.bytesTotal ?? 0,
      upstreamRequests: result.upstreamRequests ?? 0,
      error: result.error ?? null,
      warnings: JSON.stringify(result.warnings ?? []),
    });
  }

  async get(id: number): Promise<RunRow | undefined> {
    const row = this.#stmts.getRun.get(id) as RunRowSql | undefined;
    return row && toRunRow(row);
  }

  async list(mirror: string, limit: number, beforeId = Number.MAX_SAFE_INTEGER): Promise<RunRow[]> {
    return (this.#stmts.listRuns.all(mirror, beforeId, limit) as RunRowSql[]).map(toRunRow);
  }

  /** The latest full-mirror run (not a one-project run) with this outcome. */
  async lastFull(mirror: string, outcome: RunRow["outcome"]): Promise<RunRow | undefined> {
    const row = this.#stmts.lastRunWithOutcome.get(mirror, outcome) as RunRowSql | undefined;
    return row && toRunRow(row);
  }

  /** How many runs each mirror has had, by outcome. */
  async outcomeCounts(): Promise<{ mirror: string; outcome: RunRow["outcome"]; count: number }[]> {
    return (
      this.#stmts.runOutcomeCounts.all() as { mirror: string; outcome: RunRow["outcome"]; n: number }[]
    ).map((r) => ({ mirror: r.mirror, outcome: r.outcome, count: r.n }));
  }

  async count(mirror: string): Promise<number> {
    return this.#stmts.countRuns.get(mirror) as number;
  }

  /** Marks runs left "running" by a killed process as failed. */
  async abandon(mirror: string, now: number, reason: string): Promise<void> {
    this.#stmts.abandonRuns.run(now, reason, mirror);
  }

  async running(): Promise<RunRow[]> {
    return (this.#stmts.runningRuns.all() as RunRowSql[]).map(toRunRow);
  }
}
