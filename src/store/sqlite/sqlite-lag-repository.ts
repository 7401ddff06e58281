// Lag: how long upstream has had something the mirror still lacks. The watcher records when it
// first saw a change of a project page; a successful sync that covers the project (and started
// after the change was seen) records when it was published. Lag now is the age of the oldest
// change still pending; its history is published − first seen for each change.
//
// A lag figure is only as good as the last look at upstream: each sync and watch cycle records
// whether it could read upstream's pages (`recordCheck`). While upstream cannot be read, the
// status shows the lag as unknown instead of a figure nobody checked.
import type { LagRepository, LagSample, UpstreamCheck } from "../state-repositories.js";
import type { SqliteDatabase } from "./sqlite-database.js";

export class SqliteLagRepository implements LagRepository {
  readonly #stmts;
  readonly #recordChangeTx;

  constructor(db: SqliteDatabase) {
    this.#stmts = {
      pending: db.prepare(
        `SELECT id FROM upstream_changes WHERE mirror = ? AND idx = ? AND project = ? AND published_at IS NULL`,
      ),
      insert: db.prepare(
        "INSERT INTO upstream_changes (mirror, idx, project, first_seen_at) VALUES (?, ?, ?, ?)",
      ),
      publishProject: db.prepare(
        `UPDATE upstream_changes SET published_at = ?, run_id = ?
         WHERE mirror = ? AND project = ? AND published_at IS NULL AND first_seen_at <= ?`,
      ),
      publishMirror: db.prepare(
        `UPDATE upstream_changes SET published_at = ?, run_id = ?
         WHERE mirror = ? AND published_at IS NULL AND first_seen_at <= ?`,
      ),
      oldestPending: db
        .prepare("SELECT MIN(first_seen_at) FROM upstream_changes WHERE mirror = ? AND published_at IS NULL")
        .pluck(),
      oldestPendingOfProject: db
        .prepare(
          "SELECT MIN(first_seen_at) FROM upstream_changes WHERE mirror = ? AND project = ? AND published_at IS NULL",
        )
        .pluck(),
      checkOk: db.prepare(
        `INSERT INTO upstream_checks (mirror, last_ok_at) VALUES (?, ?)
         ON CONFLICT (mirror) DO UPDATE SET last_ok_at = MAX(COALESCE(last_ok_at, 0), excluded.last_ok_at),
           failing_since = CASE WHEN failing_since > excluded.last_ok_at THEN failing_since END,
           last_error = CASE WHEN failing_since > excluded.last_ok_at THEN last_error END`,
      ),
      checkFailed: db.prepare(
        `INSERT INTO upstream_checks (mirror, failing_since, last_failed_at, last_error) VALUES (?, ?, ?, ?)
         ON CONFLICT (mirror) DO UPDATE SET failing_since = COALESCE(failing_since, excluded.failing_since),
           last_failed_at = excluded.last_failed_at, last_error = excluded.last_error`,
      ),
      check: db.prepare(
        `SELECT last_ok_at AS lastOkAt, failing_since AS failingSince, last_failed_at AS lastFailedAt,
           last_error AS lastError FROM upstream_checks WHERE mirror = ?`,
      ),
      allChecks: db.prepare(
        `SELECT mirror, last_ok_at AS lastOkAt, failing_since AS failingSince, last_failed_at AS lastFailedAt,
           last_error AS lastError FROM upstream_checks`,
      ),
      history: db.prepare(
        `SELECT id, mirror, idx, project, first_seen_at AS firstSeenAt, published_at AS publishedAt, run_id AS runId
         FROM upstream_changes WHERE mirror = ? ORDER BY id DESC LIMIT ?`,
      ),
    };
    const stmts = this.#stmts;
    this.#recordChangeTx = db.transaction((mirror: string, idx: string, project: string, seenAt: number) => {
      if (stmts.pending.get(mirror, idx, project) === undefined)
        stmts.insert.run(mirror, idx, project, seenAt);
    });
  }

  /** Notes a change seen upstream (once while it is pending). */
  async recordChange(mirror: string, idx: string, project: string, seenAt: number): Promise<void> {
    // Check and insert in one transaction: another connection (a CLI sync) may record the same change.
    this.#recordChangeTx.immediate(mirror, idx, project, seenAt);
  }

  /**
   * A sync that started at `runStartedAt` published: changes it covered (of its project, or all
   * when it synced the whole mirror) seen before it started are now published.
   */
  async recordPublished(
    mirror: string,
    project: string | null,
    runStartedAt: number,
    publishedAt: number,
    runId: number | null,
  ): Promise<number> {
    const result =
      project === null
        ? this.#stmts.publishMirror.run(publishedAt, runId, mirror, runStartedAt)
        : this.#stmts.publishProject.run(publishedAt, runId, mirror, project, runStartedAt);
    return result.changes;
  }

  /** Milliseconds the mirror has been behind upstream now (0 when current). */
  async lagMs(mirror: string, now: number, project?: string): Promise<number> {
    const oldest = (
      project === undefined
        ? this.#stmts.oldestPending.get(mirror)
        : this.#stmts.oldestPendingOfProject.get(mirror, project)
    ) as number | null;
    return oldest === null ? 0 : Math.max(0, now - oldest);
  }

  /**
   * A look at upstream at `at`: its pages were read (no `failure`), or could not be (`failure`,
   * root cause first). A success ends a failing spell that began before it; a success that
   * started before a later failure (a long sync) does not.
   */
  async recordCheck(mirror: string, at: number, failure?: string): Promise<void> {
    if (failure === undefined) this.#stmts.checkOk.run(mirror, at);
    else this.#stmts.checkFailed.run(mirror, at, at, failure);
  }

  async check(mirror: string): Promise<UpstreamCheck | undefined> {
    return this.#stmts.check.get(mirror) as UpstreamCheck | undefined;
  }

  /** Every mirror's check record, in one query. */
  async allChecks(): Promise<Map<string, UpstreamCheck>> {
    const rows = this.#stmts.allChecks.all() as (UpstreamCheck & { mirror: string })[];
    return new Map(rows.map(({ mirror, ...check }) => [mirror, check]));
  }

  async history(mirror: string, limit = 100): Promise<LagSample[]> {
    return this.#stmts.history.all(mirror, limit) as LagSample[];
  }
}
