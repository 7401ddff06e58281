// Opens the SQLite state database: WAL mode so a `serve` process reads while a CLI `sync`
// writes, synchronous=NORMAL, a busy timeout, and the numbered migrations applied in order.
import Database from "better-sqlite3";
import { MIGRATIONS } from "../migrations.js";

export type SqliteDatabase = Database.Database;
export type SqliteStatement = Database.Statement<unknown[]>;

export function openSqliteDatabase(path: string): SqliteDatabase {
  const db = new Database(path);
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    migrate(db);
  } catch (error) {
    // A database that cannot be set up (read-only, full disk) must not stay open behind the error.
    db.close();
    throw error;
  }
  return db;
}

function migrate(db: SqliteDatabase): void {
  const applied = db.pragma("user_version", { simple: true }) as number;
  for (let i = applied; i < MIGRATIONS.length; i++) {
    const sql = MIGRATIONS[i] as string;
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
}
