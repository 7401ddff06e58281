// Lag: how long upstream has had something the mirror still lacks. The watcher records when it
// first saw a change of a project page; a successful sync that covers the project (and started
// after the change was seen) records when it was published. Lag now is the age of the oldest
// change still pending; its history is published − first seen for each change.
import type Database from "better-sqlite3";

export interface LagSample {
  id: number;
  mirror: string;
  idx: string;
  project: string;
  firstSeenAt: number;
  publishedAt: number | null;
  runId: number | null;
}

export class LagStore {
  readonly #stmts;

  constructor(db: Database.Database) {
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
      history: db.prepare(
        `SELECT id, mirror, idx, project, first_seen_at AS firstSeenAt, published_at AS publishedAt, run_id AS runId
         FROM upstream_changes WHERE mirror = ? ORDER BY id DESC LIMIT ?`,
      ),
    };
  }

  /** Notes a change seen upstream (once while it is pending). */
  recordChange(mirror: string, idx: string, project: string, seenAt: number): void {
    if (this.#stmts.pending.get(mirror, idx, project) === undefined) {
      this.#stmts.insert.run(mirror, idx, project, seenAt);
    }
  }

  /**
   * A sync that started at `runStartedAt` published: changes it covered (of its project, or all
   * when it synced the whole mirror) seen before it started are now published.
   */
  recordPublished(
    mirror: string,
    project: string | null,
    runStartedAt: number,
    publishedAt: number,
    runId: number | null,
  ): number {
    const result =
      project === null
        ? this.#stmts.publishMirror.run(publishedAt, runId, mirror, runStartedAt)
        : this.#stmts.publishProject.run(publishedAt, runId, mirror, project, runStartedAt);
    return result.changes;
  }

  /** Milliseconds the mirror has been behind upstream now (0 when current). */
  lagMs(mirror: string, now: number, project?: string): number {
    const oldest = (
      project === undefined
        ? this.#stmts.oldestPending.get(mirror)
        : this.#stmts.oldestPendingOfProject.get(mirror, project)
    ) as number | null;
    return oldest === null ? 0 : Math.max(0, now - oldest);
  }

  history(mirror: string, limit = 100): LagSample[] {
    return this.#stmts.history.all(mirror, limit) as LagSample[];
  }
}
