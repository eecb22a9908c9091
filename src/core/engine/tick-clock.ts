// The engine's clock: every tick, retrying jobs whose backoff has passed go back to the queue and jobs that
// waited longer than the queue timeout fail. The JobManager starts and stops it.
import type { Job, JobError } from "../models.js";
import type { JobStore } from "../storage/job-store.js";
import type { StorageHealth } from "../storage/storage-health.js";
import type { DispatchQueue } from "./dispatch-queue.js";
import type { RunEvents } from "./run-events.js";

const TICK_MS = 250;

export interface TickClockDeps {
  store: JobStore;
  queue: DispatchQueue;
  say: RunEvents;
  storage: StorageHealth;
  queueTimeoutS: number;
  fail: (job: Job, error: JobError) => void;
  advance: (projectId: string) => void;
  kick: () => void;
}

export class TickClock {
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly d: TickClockDeps) {}

  start(): void {
    this.timer = setInterval(() => this.onTick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private onTick(): void {
    if (!this.d.storage.ok) return;
    try {
      this.promoteAndExpire();
    } catch (err) {
      if (!this.d.storage.report(err)) throw err;
    }
  }

  private promoteAndExpire(): void {
    const { store } = this.d;
    const nowIso = new Date().toISOString();
    for (const job of store.withStatus("retrying", 256)) {
      if (job.not_before && job.not_before > nowIso) continue;
      if (store.transition(job.id, ["retrying"], "queued", { not_before: null })) {
        this.d.queue.joined(store.queue.keyOf(job.id) ?? "");
        this.d.say.emit(job, "queued", {
          workflow_id: job.workflow_id,
          priority: job.priority,
          attempt: job.attempt + 1,
        });
      }
    }
    const cutoff = new Date(Date.now() - this.d.queueTimeoutS * 1000).toISOString();
    for (const id of store.queuedBefore(cutoff, 256)) {
      const job = store.get(id);
      if (!job) continue;
      this.d.fail(job, {
        code: "QUEUE_TIMEOUT",
        message: `no backend took the job within ${this.d.queueTimeoutS} s`,
      });
      this.d.advance(job.project_id);
    }
    this.d.kick();
  }
}
