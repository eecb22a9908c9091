// `max_queued` per API key: how many of its jobs may be unfinished at once. Submits still being prepared
// count too, so a burst of concurrent submits cannot overshoot the limit. Those are this process's; with
// replicas on one database the insert re-counts under a lock on the key (guard), so neither can theirs.
import { AppError } from "../../errors.js";
import type { InsertGuard } from "../storage/insert-guard.js";
import type { JobStore } from "../storage/job-store.js";

/** Who submits a job: the key id (null while access control is off) and its limit (0: none). */
export interface Submitter {
  id: string | null;
  maxQueued: number;
}

export const ANONYMOUS: Submitter = { id: null, maxQueued: 0 };

export class OwnerQuota {
  private readonly pending = new Map<string, number>();

  constructor(private readonly store: JobStore) {}

  /** Claims one slot or throws QUOTA_EXCEEDED; call the returned function once the job is committed (or failed). */
  reserve(s: Submitter): () => void {
    const id = s.id;
    if (id === null || s.maxQueued <= 0) return () => {};
    const pending = this.pending.get(id) ?? 0;
    const unfinished = this.store.unfinishedOf(id) + pending;
    if (unfinished >= s.maxQueued) throw exceeded(id, s.maxQueued, unfinished);
    this.pending.set(id, pending + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.pending.get(id) ?? 1) - 1;
      if (left > 0) this.pending.set(id, left);
      else this.pending.delete(id);
    };
  }

  /**
   * The insert-time check: the jobs every replica has committed, counted under a lock on the key, so two
   * replicas' submits for one key take turns. Null when the key has no limit.
   */
  guard(s: Submitter): InsertGuard | null {
    const id = s.id;
    if (id === null || s.maxQueued <= 0) return null;
    return {
      locks: [`max_queued:${id}`],
      check: () => {
        const unfinished = this.store.unfinishedOf(id);
        if (unfinished >= s.maxQueued) throw exceeded(id, s.maxQueued, unfinished);
      },
    };
  }
}

function exceeded(id: string, maxQueued: number, unfinished: number): AppError {
  return new AppError(
    "QUOTA_EXCEEDED",
    `API key "${id}" already has ${unfinished} unfinished jobs; its max_queued is ${maxQueued}`,
    { key_id: id, max_queued: maxQueued, unfinished },
  );
}
