// A check that must hold when a job's rows are inserted, made race-free across replicas: the insert's
// transaction first takes PostgreSQL advisory transaction locks by name, then runs the check, so two replicas
// inserting under one name take turns and the second sees what the first committed (READ COMMITTED reads
// afresh per statement). Released by the commit. On SQLite one process and one connection already serialize
// every insert, so there the check needs no lock.
import type { SqlDatabase } from "./sql.js";

export interface InsertGuard {
  /** Lock names (e.g. "idempotency:<owner>:<key>"); equal names serialize, whatever the replica. */
  locks: string[];
  /** Runs in the insert's transaction, after the locks; throwing refuses this insert (and only this one). */
  check: () => void;
}

/** The advisory-lock key space of insert guards (two-int4 keys: this, then hashtext(name)). */
const GUARD_LOCKS = 727_010;

/** Returns the function that takes every lock of `guards` in the current transaction. */
export function guardLocker(db: SqlDatabase): (guards: (InsertGuard | undefined)[]) => void {
  if (db.engine !== "postgres") return () => {};
  const lock = db.prepare("SELECT pg_advisory_xact_lock(?, hashtext(?))");
  return (guards) => {
    // One global order, so two replicas' batches that share names cannot deadlock.
    const names = [...new Set(guards.flatMap((g) => g?.locks ?? []))].sort();
    for (const name of names) lock.get(GUARD_LOCKS, name);
  };
}
