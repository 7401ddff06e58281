// Mirror rows in SQLite.
import type { MirrorRepository, MirrorRow, MirrorState } from "../state-repositories.js";
import type { SqliteDatabase, SqliteStatement } from "./sqlite-database.js";

interface MirrorRowSql {
  name: string;
  state: MirrorState;
  last_success_at: number | null;
  last_attempt_at: number | null;
  last_ended_at: number | null;
  next_run_at: number | null;
  last_error: string | null;
  paused: number;
  last_scheduled_at: number | null;
  paused_at: number | null;
}

function toMirrorRow(row: MirrorRowSql): MirrorRow {
  return {
    name: row.name,
    state: row.state,
    lastSuccessAt: row.last_success_at,
    lastAttemptAt: row.last_attempt_at,
    lastEndedAt: row.last_ended_at,
    nextRunAt: row.next_run_at,
    lastError: row.last_error,
    paused: row.paused === 1,
    lastScheduledAt: row.last_scheduled_at,
    pausedAt: row.paused_at,
  };
}

/** Patch field -> column; one UPDATE per column, each prepared once. */
const COLUMNS = {
  state: "state",
  lastSuccessAt: "last_success_at",
  lastAttemptAt: "last_attempt_at",
  lastEndedAt: "last_ended_at",
  nextRunAt: "next_run_at",
  lastError: "last_error",
  paused: "paused",
  lastScheduledAt: "last_scheduled_at",
  pausedAt: "paused_at",
} as const;

type Field = keyof typeof COLUMNS;

export class SqliteMirrorRepository implements MirrorRepository {
  readonly #db: SqliteDatabase;
  readonly #stmts;
  readonly #set: Record<Field, SqliteStatement>;

  constructor(db: SqliteDatabase) {
    this.#db = db;
    this.#stmts = {
      ensure: db.prepare("INSERT OR IGNORE INTO mirrors (name) VALUES (?)"),
      get: db.prepare("SELECT * FROM mirrors WHERE name = ?"),
      list: db.prepare("SELECT * FROM mirrors ORDER BY name"),
    };
    this.#set = Object.fromEntries(
      Object.entries(COLUMNS).map(([field, column]) => [
        field,
        db.prepare(`UPDATE mirrors SET ${column} = ? WHERE name = ?`),
      ]),
    ) as Record<Field, SqliteStatement>;
  }

  async ensure(name: string): Promise<void> {
    this.#stmts.ensure.run(name);
  }

  async get(name: string): Promise<MirrorRow> {
    this.#stmts.ensure.run(name);
    return toMirrorRow(this.#stmts.get.get(name) as MirrorRowSql);
  }

  async list(): Promise<MirrorRow[]> {
    return (this.#stmts.list.all() as MirrorRowSql[]).map(toMirrorRow);
  }

  async update(name: string, patch: Partial<Omit<MirrorRow, "name">>): Promise<void> {
    const fields = Object.entries(patch).filter(
      ([field, value]) => value !== undefined && Object.hasOwn(COLUMNS, field),
    ) as [Field, unknown][];
    if (fields.length === 0) return;
    this.#db.transaction(() => {
      this.#stmts.ensure.run(name);
      for (const [field, value] of fields) {
        this.#set[field].run(typeof value === "boolean" ? (value ? 1 : 0) : value, name);
      }
    })();
  }
}
