// Group commit for new jobs: submits arriving in the same event-loop turn are written in one transaction. In
// WAL mode a commit rewrites every page it touched (the table and four indexes), so one commit for many
// submits is most of the submit throughput; on PostgreSQL it saves a round trip per submit.
import { guardLocker, type InsertGuard } from "./insert-guard.js";
import type { NewJob } from "./job-store.js";
import type { SqlDatabase } from "./sql.js";
import { storageStateOf } from "./storage-health.js";

interface Pending {
  jobs: NewJob[];
  guard?: InsertGuard;
  resolve: (seq: number) => void;
  reject: (err: Error) => void;
}

type Result = { seq: number } | { refused: unknown };

export class GroupCommit {
  private pending: Pending[] = [];
  private readonly lockGuards;

  constructor(
    private readonly db: SqlDatabase,
    /** Writes one submit's rows in the open transaction; returns its first row's seq. */
    private readonly write: (jobs: NewJob[]) => number,
  ) {
    this.lockGuards = guardLocker(db);
  }

  /** Resolves with the first row's seq once committed; rejects with what the guard's check threw. */
  add(jobs: NewJob[], guard?: InsertGuard): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ jobs, guard, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending;
    this.pending = [];
    try {
      const results = this.db.transaction(() => this.writeBatch(batch))();
      for (const [i, b] of batch.entries()) settle(b, results[i]!);
    } catch (err) {
      // A locked or full database fails every row alike: retrying each would only block longer.
      if (storageStateOf(err)) {
        for (const b of batch) b.reject(err as Error);
        return;
      }
      // One bad submit must not fail the others: write them one by one to find it.
      for (const b of batch) {
        try {
          settle(b, this.db.transaction(() => this.writeBatch([b]))()[0]!);
        } catch (err) {
          b.reject(err as Error);
        }
      }
    }
  }

  /** In the open transaction: the guards' locks, then each submit's check and rows. */
  private writeBatch(batch: Pending[]): Result[] {
    this.lockGuards(batch.map((b) => b.guard));
    return batch.map((b) => {
      try {
        b.guard?.check();
      } catch (refused) {
        return { refused };
      }
      return { seq: this.write(b.jobs) };
    });
  }
}

function settle(b: Pending, r: Result): void {
  if ("seq" in r) b.resolve(r.seq);
  else b.reject(r.refused as Error);
}
