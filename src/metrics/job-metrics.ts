// Job counters and histograms, fed by the JobManager's one event stream (so the engine knows nothing of
// Prometheus), plus the queue gauges read from SQLite at scrape time. Each event costs one indexed read.

import type { JobEvent, JobEvents } from "../core/engine/events.js";
import type { SqlDatabase } from "../core/storage/sql.js";
import type { Metrics } from "./metrics.js";

interface JobFacts {
  workflow_id: string;
  backend_id: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** Requeued retries remembered for their queue wait; bounded, the oldest go first. */
const MAX_REQUEUED = 10_000;

/** Priorities are free integers: three bands keep the label bounded. */
export function priorityBand(priority: number): "high" | "normal" | "low" {
  return priority > 0 ? "high" : priority < 0 ? "low" : "normal";
}

export class JobMetrics {
  private readonly facts;
  private readonly bands;
  private readonly requeuedAt = new Map<string, number>();
  private unsubscribe: (() => void) | null = null;

  constructor(
    db: SqlDatabase,
    private readonly events: JobEvents,
    private readonly m: Metrics,
  ) {
    this.facts = db.prepare(
      "SELECT workflow_id, backend_id, created_at, started_at, finished_at FROM jobs WHERE id = ?",
    );
    // Grouped as jobs_queue is ordered (status, priority), so a scrape walks that index once with no
    // sort; the few (status, priority) pairs are folded into bands here.
    this.bands = db.prepare(
      `SELECT status, priority, COUNT(*) AS n FROM jobs
         WHERE status IN ('queued', 'retrying', 'dispatching', 'running') GROUP BY status, priority`,
    );
    m.onScrape(() => this.refreshQueue());
  }

  start(): void {
    this.unsubscribe = this.events.subscribe((e) => {
      try {
        this.onEvent(e);
      } catch {
        // Metrics must never break the event stream (e.g. a read during shutdown): a missed count is all.
      }
    });
  }

  stop(): void {
    this.unsubscribe?.();
  }

  private onEvent(e: JobEvent): void {
    const d = e.data;
    switch (e.type) {
      case "job.queued":
        if (typeof d.attempt === "number") this.rememberRequeue(e.job_id);
        else this.m.jobsSubmitted.inc({ workflow: String(d.workflow_id) });
        return;
      case "job.dispatched": {
        const f = this.lookup(e.job_id);
        const backend = String(d.backend_id);
        this.m.attempts.inc({ backend });
        if (!f) return;
        const since = this.requeuedAt.get(e.job_id) ?? Date.parse(f.created_at);
        this.requeuedAt.delete(e.job_id);
        this.m.queueWait.observe(
          { workflow: f.workflow_id, backend },
          Math.max(0, (Date.now() - since) / 1000),
        );
        return;
      }
      case "job.retrying":
        this.m.retries.inc({ code: errorCode(d.error) });
        return;
      case "job.completed": {
        const f = this.lookup(e.job_id);
        if (!f) return;
        const backend = String(d.backend_id ?? f.backend_id);
        this.m.jobsCompleted.inc({ workflow: f.workflow_id });
        this.m.hostJobs.inc({ backend, outcome: "completed" });
        if (f.started_at && f.finished_at) {
          const s = (Date.parse(f.finished_at) - Date.parse(f.started_at)) / 1000;
          this.m.jobDuration.observe({ workflow: f.workflow_id, backend }, Math.max(0, s));
        }
        return;
      }
      case "job.failed":
      case "job.cancelled": {
        const f = this.lookup(e.job_id);
        this.requeuedAt.delete(e.job_id);
        if (!f) return;
        if (e.type === "job.failed")
          this.m.jobsFailed.inc({ workflow: f.workflow_id, code: errorCode(d.error) });
        else this.m.jobsCancelled.inc({ workflow: f.workflow_id });
        if (f.backend_id)
          this.m.hostJobs.inc({
            backend: f.backend_id,
            outcome: e.type === "job.failed" ? "failed" : "cancelled",
          });
        return;
      }
      default:
        return;
    }
  }

  private lookup(id: string): JobFacts | null {
    return (this.facts.get(id) as JobFacts | undefined) ?? null;
  }

  private rememberRequeue(id: string): void {
    if (this.requeuedAt.size >= MAX_REQUEUED) {
      const oldest = this.requeuedAt.keys().next().value;
      if (oldest !== undefined) this.requeuedAt.delete(oldest);
    }
    this.requeuedAt.set(id, Date.now());
  }

  private refreshQueue(): void {
    const queued = { high: 0, normal: 0, low: 0 };
    const running = { high: 0, normal: 0, low: 0 };
    for (const r of this.bands.all() as { status: string; priority: number | string; n: number | string }[]) {
      const to = r.status === "queued" || r.status === "retrying" ? queued : running;
      to[priorityBand(Number(r.priority))] += Number(r.n);
    }
    for (const band of ["high", "normal", "low"] as const) {
      this.m.jobsQueued.set({ priority_band: band }, queued[band]);
      this.m.jobsRunning.set({ priority_band: band }, running[band]);
    }
  }
}

/** Job error codes come from our own catalogue, so the label stays bounded. */
function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && /^[A-Z_]{1,40}$/.test(code) ? code : "UNKNOWN";
}
