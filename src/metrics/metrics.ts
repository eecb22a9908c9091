// Every Prometheus metric this server exports, in one registry per Orchestrator (tests run several in one
// process). Labels are bounded: workflow ids, backend ids, error codes, route patterns, never job ids.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Job lengths run from a second (small images) to the 30-minute default timeout (video). */
const JOB_SECONDS = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
const WAIT_SECONDS = [0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];
const FAST_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export class Metrics {
  readonly registry = new Registry();
  private readonly refreshers: (() => void)[] = [];

  readonly jobsSubmitted = this.counter("orchestrator_jobs_submitted_total", "Jobs accepted", ["workflow"]);
  readonly jobsCompleted = this.counter("orchestrator_jobs_completed_total", "Jobs that completed", [
    "workflow",
  ]);
  readonly jobsFailed = this.counter("orchestrator_jobs_failed_total", "Jobs that failed, by error code", [
    "workflow",
    "code",
  ]);
  readonly jobsCancelled = this.counter("orchestrator_jobs_cancelled_total", "Jobs cancelled", ["workflow"]);
  readonly jobsQueued = this.gauge(
    "orchestrator_jobs_queued",
    "Jobs waiting for a host now (queued or retrying)",
    ["priority_band"],
  );
  readonly jobsRunning = this.gauge(
    "orchestrator_jobs_running",
    "Jobs on a host now (dispatching or running)",
    ["priority_band"],
  );
  readonly jobDuration = this.histogram(
    "orchestrator_job_duration_seconds",
    "Execution time of completed jobs, from running to completed",
    ["workflow", "backend"],
    JOB_SECONDS,
  );
  readonly queueWait = this.histogram(
    "orchestrator_job_queue_wait_seconds",
    "Time a job waited in our queue before a host took it (each attempt)",
    ["workflow", "backend"],
    WAIT_SECONDS,
  );
  readonly attempts = this.counter("orchestrator_job_attempts_total", "Attempts started, by host", [
    "backend",
  ]);
  readonly retries = this.counter(
    "orchestrator_job_retries_total",
    "Attempts that ended in a retry, by error code",
    ["code"],
  );
  readonly dispatchLatency = this.histogram(
    "orchestrator_dispatch_latency_seconds",
    "From a host's slot being free for a job (slot freed or job queued, whichever is later) to the prompt accepted by the host",
    ["backend"],
    FAST_SECONDS,
  );
  readonly hostState = this.gauge(
    "orchestrator_backend_state",
    "1 for the state each host is in (online, degraded, offline, disabled, draining, drained, removing)",
    ["backend", "state"],
  );
  readonly hostInflight = this.gauge("orchestrator_backend_inflight", "Our prompts on the host now", [
    "backend",
  ]);
  readonly hostForeignQueue = this.gauge(
    "orchestrator_backend_foreign_queue",
    "Prompts on the host's queue that are not ours",
    ["backend"],
  );
  readonly hostVramTotal = this.gauge("orchestrator_backend_vram_total_bytes", "VRAM of the host's GPU", [
    "backend",
  ]);
  readonly hostVramFree = this.gauge("orchestrator_backend_vram_free_bytes", "Free VRAM on the host's GPU", [
    "backend",
  ]);
  readonly hostJobs = this.counter(
    "orchestrator_backend_jobs_total",
    "Jobs that ended on the host, by outcome (completed, failed, cancelled)",
    ["backend", "outcome"],
  );
  readonly hostPollErrors = this.counter(
    "orchestrator_backend_poll_errors_total",
    "Failed polls of the host's /system_stats and /queue",
    ["backend"],
  );
  /** Hook for model-aware scheduling: incremented by whatever learns that a host loaded a model. */
  readonly hostModelLoads = this.counter(
    "orchestrator_backend_model_loads_total",
    "Model loads seen on the host",
    ["backend"],
  );
  readonly warmups = this.counter("orchestrator_backend_warmups_total", "Warm-up runs, by result", [
    "backend",
    "result",
  ]);
  readonly webhookDeliveries = this.counter(
    "orchestrator_webhook_deliveries_total",
    "Webhook attempts by result: delivered, retry (failed, will retry), failed (gave up)",
    ["result"],
  );
  readonly eventSubscribers = this.gauge(
    "orchestrator_event_subscribers",
    "Clients connected to live events",
    ["transport"],
  );
  readonly eventFramesCoalesced = this.counter(
    "orchestrator_event_frames_coalesced_total",
    "Progress or preview frames replaced by a newer one for a slow client",
  );
  readonly eventClientsDropped = this.counter(
    "orchestrator_event_clients_dropped_total",
    "Clients disconnected for falling too far behind",
  );
  readonly httpRequests = this.counter("orchestrator_http_requests_total", "HTTP requests answered", [
    "method",
    "route",
    "status",
  ]);
  readonly httpDuration = this.histogram(
    "orchestrator_http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    FAST_SECONDS,
  );

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    // Series that exist from the start, so rate() and alerts see a 0 rather than nothing.
    for (const transport of ["ws", "sse"]) this.eventSubscribers.set({ transport }, 0);
    for (const result of ["delivered", "retry", "failed"]) this.webhookDeliveries.inc({ result }, 0);
  }

  /** Runs `fn` before each scrape: gauges of the current state are read then, not kept up to date. */
  onScrape(fn: () => void): void {
    this.refreshers.push(fn);
  }

  async render(): Promise<string> {
    for (const fn of this.refreshers) fn();
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Drops every series of a host that left the fleet, so its last values do not linger. */
  async forgetBackend(backend: string): Promise<void> {
    const perHost = [
      this.attempts,
      this.hostJobs,
      this.hostPollErrors,
      this.hostModelLoads,
      this.warmups,
      this.jobDuration,
      this.queueWait,
      this.dispatchLatency,
    ];
    for (const m of perHost) {
      const seen = new Set<string>();
      for (const v of (await m.get()).values) {
        if (v.labels.backend !== backend) continue;
        // Histogram buckets carry `le` on top of the series' own labels.
        const { le: _le, ...labels } = v.labels as Record<string, string | number>;
        const key = JSON.stringify(labels);
        if (seen.has(key)) continue;
        seen.add(key);
        m.remove(labels as never);
      }
    }
  }

  private counter<L extends string>(name: string, help: string, labelNames: L[] = []): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  private gauge<L extends string>(name: string, help: string, labelNames: L[]): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  private histogram<L extends string>(
    name: string,
    help: string,
    labelNames: L[],
    buckets: number[],
  ): Histogram<L> {
    return new Histogram({ name, help, labelNames, buckets, registers: [this.registry] });
  }
}
