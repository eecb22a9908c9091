// Replicas on one PostgreSQL database share one queue: a job queued (or requeued) by any replica may be run
// by whichever replica drives a host that can take it. Each replica announces the queue keys that gained
// work (NOTIFY orchestrator_queue, batched per event-loop turn) and, on hearing another's, re-reads that
// group and dispatches. Notifications can be lost (a dropped LISTEN connection), so every replica also
// re-reads all groups every poll interval: the bound on how long queued work can go unseen.
import type { PgListener } from "../storage/pg-listener.js";
import type { JobManager } from "./job-manager.js";

export const QUEUE_CHANNEL = "orchestrator_queue";

export class QueueSync {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    listener: PgListener,
    private readonly jobs: JobManager,
    private readonly rescanMs: number,
  ) {
    listener.on(QUEUE_CHANNEL, (key) => jobs.queuedElsewhere(key));
    listener.onReconnect(() => jobs.queuedElsewhere(null));
    jobs.shareQueue((key) => listener.notify(QUEUE_CHANNEL, key));
  }

  start(): void {
    this.timer = setInterval(() => this.jobs.queuedElsewhere(null), this.rescanMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
