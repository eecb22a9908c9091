// The storage contract every store is written against: the part of better-sqlite3's API they use, so a store
// runs unchanged on SQLite (directly) or PostgreSQL (pg-sync.ts). It is synchronous on purpose: the engine's
// compare-and-set transitions and its in-memory views (slots, queues) change in one event-loop turn with the
// row they depend on, so no other callback can interleave between a read and the write that follows it.
//
// SQL the stores write must mean the same in both engines: `?` placeholders (or `@name` with one object),
// `INSERT … ON CONFLICT (…) DO UPDATE|NOTHING` (not INSERT OR REPLACE), `IS NOT DISTINCT FROM`,
// `CASE WHEN … THEN 1 ELSE 0 END` (no booleans as numbers), `CAST(? AS TEXT)` where only an operator gives a
// parameter its type, and `RETURNING` instead of lastInsertRowid.
import type Database from "better-sqlite3";

export type SqlEngine = "sqlite" | "postgres";

export interface SqlStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

export interface SqlDatabase {
  readonly engine: SqlEngine;
  prepare(sql: string): SqlStatement;
  exec(sql: string): void;
  /** Wraps `fn` so that each call runs in one transaction (nested calls use savepoints). */
  transaction<A extends unknown[], T>(fn: (...args: A) => T): (...args: A) => T;
  close(): void;
}

/** The SQLite engine, with its handle for what only SQLite has (pragmas, in tests and tools). */
export interface SqliteDatabase extends SqlDatabase {
  readonly sqlite: Database.Database;
}

/** better-sqlite3 already is this contract. */
export function sqliteDatabase(db: Database.Database): SqliteDatabase {
  return {
    engine: "sqlite",
    sqlite: db,
    prepare: (sql) => db.prepare(sql),
    exec: (sql) => {
      db.exec(sql);
    },
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
  };
}
