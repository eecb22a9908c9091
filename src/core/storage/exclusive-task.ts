// A periodic task (a sweep that deletes or rewrites rows) that only one replica runs at a time. On PostgreSQL
// the replica holds a session-level advisory lock on its own connection while the task runs: a replica that
// dies mid-task loses its connection and with it the lock, so no lease needs to expire. A connection that
// drops and reconnects mid-task loses the lock too, so a task must stay harmless when run twice at once
// (rarely); the lock is what keeps that rare. On SQLite one server owns the file, so the task simply runs.
import type { SqlDatabase } from "./sql.js";

/** The advisory-lock key space of named tasks (two-int4 keys: this, then hashtext(name)). */
const TASK_LOCKS = 727_020;

export class ExclusiveTask {
  private running = false;
  private readonly stmts;

  constructor(
    db: SqlDatabase,
    readonly name: string,
  ) {
    this.stmts =
      db.engine === "postgres"
        ? {
            lock: db.prepare("SELECT pg_try_advisory_lock(?, hashtext(?)) AS got"),
            unlock: db.prepare("SELECT pg_advisory_unlock(?, hashtext(?)) AS released"),
          }
        : null;
  }

  /**
   * Runs `fn` unless this task is already running here or on another replica; then resolves with null at
   * once (the next run takes what this one would have). A lock that cannot be asked for (the database is
   * down) throws, like the task itself would.
   */
  async run<T>(fn: () => Promise<T>): Promise<T | null> {
    // A session lock is re-entrant on its own connection: overlapping runs here must be stopped by us.
    if (this.running) return null;
    if (this.stmts && !(this.stmts.lock.get(TASK_LOCKS, this.name) as { got: boolean }).got) return null;
    this.running = true;
    try {
      return await fn();
    } finally {
      this.running = false;
      if (this.stmts) this.release();
    }
  }

  private release(): void {
    try {
      this.stmts!.unlock.get(TASK_LOCKS, this.name);
    } catch {
      // The connection is gone, and with it the lock.
    }
  }
}
