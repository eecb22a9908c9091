// One Orchestrator per SQLite file: two would both dispatch the same queue, and neither would notice the
// other's death. The lock is an exclusive transaction held on a small companion database for as long as
// the process lives, so the operating system drops it the moment the process dies, even by SIGKILL.
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import Database from "better-sqlite3";

export class InstanceLockError extends Error {
  override name = "InstanceLockError";
}

export interface InstanceLock {
  release(): void;
}

export function acquireInstanceLock(databasePath: string): InstanceLock {
  if (databasePath === ":memory:") return { release() {} };
  mkdirSync(path.dirname(databasePath), { recursive: true });
  const db = new Database(`${databasePath}.lock`);
  try {
    db.pragma("busy_timeout = 0");
    // WAL: a refused instance can still read who holds the write lock.
    db.pragma("journal_mode = WAL");
    db.exec("CREATE TABLE IF NOT EXISTS holder (pid INTEGER, host TEXT, since TEXT)");
    take(db, () => {
      db.exec("DELETE FROM holder");
      db.prepare("INSERT INTO holder (pid, host, since) VALUES (?, ?, ?)").run(
        process.pid,
        hostname(),
        new Date().toISOString(),
      );
      db.exec("COMMIT");
    });
    take(db, () => {}); // held from here until release() or the process's end
  } catch (err) {
    if (db.open) db.close();
    throw err;
  }
  return {
    release() {
      if (!db.open) return;
      db.exec("ROLLBACK");
      db.close();
    },
  };

  function take(conn: Database.Database, then: () => void): void {
    try {
      conn.exec("BEGIN EXCLUSIVE");
    } catch (err) {
      if ((err as { code?: string }).code !== "SQLITE_BUSY") throw err;
      const holder = conn.prepare("SELECT pid, host, since FROM holder").get() as
        | { pid: number; host: string; since: string }
        | undefined;
      const who = holder ? ` (pid ${holder.pid} on ${holder.host}, since ${holder.since})` : "";
      throw new InstanceLockError(
        `database_path: ${databasePath} is in use by another running Orchestrator${who}; ` +
          "stop it first (several instances need PostgreSQL)",
      );
    }
    then();
  }
}
