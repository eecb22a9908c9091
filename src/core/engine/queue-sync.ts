// Replicas on one PostgreSQL database share one queue: a job queued (or requeued) by any replica may be run
// by whichever replica drives a host that can take it. Each replica announces the queue keys that gained
// work (NOTIFY orchestrator_queue, batched per event-loop turn, sent with the event-log append that holds
// the events emitted before it, so a job's job.queued is in the log before another replica can dispatch
// it) and, on hearing another's, re-reads that group and dispatches. Notifications can be lost (a dropped LISTEN connection), so every replica also
// re-reads all groups every poll interval: the bound on how long queued work can go unseen.
import { randomUUID } from "node:crypto";
import type { PgListener } from "../storage/pg-listener.js";
import type { JobManager } from "./job-manager.js";

export const QUEUE_CHANNEL = "orchestrator_queue";
/** A re-read leaves work queued this recently to its announcement (see DispatchQueue.reload). */
const SETTLE_MS = 1000;

export class QueueSync {
  private timer: NodeJS.Timeout | null = null;
  /** Prefixes this process's announcements, so it ignores its own (payload: "<origin> <queue key>"). */
  private readonly origin = randomUUID();

  constructor(
    listener: PgListener,
    private readonly jobs: JobManager,
    private readonly rescanMs: number,
    /** Sends a NOTIFY (SharedEventLog.notifyAfterEvents, or listener.notify). */
    send: (channel: string, payload: string) => void,
  ) {
    listener.on(QUEUE_CHANNEL, (payload) => {
      const cut = payload.indexOf(" ");
      if (payload.slice(0, cut) !== this.origin) jobs.queuedElsewhere(payload.slice(cut + 1));
    });
    // Announcements sent while this replica was not listening are lost: re-read now, and once more when
    // what was queued just before the reconnect has settled.
    listener.onReconnect(() => {
      jobs.queuedElsewhere(null, SETTLE_MS);
      setTimeout(() => jobs.queuedElsewhere(null, SETTLE_MS), SETTLE_MS + 50).unref();
    });
    jobs.shareQueue((key) => send(QUEUE_CHANNEL, `${this.origin} ${key}`));
  }

  start(): void {
    this.timer = setInterval(() => this.jobs.queuedElsewhere(null, SETTLE_MS), this.rescanMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
