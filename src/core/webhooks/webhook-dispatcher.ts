// Turns every finished job that asked for a webhook into a delivery row, then sends the rows: signed, retried
// with exponential backoff and jitter, bounded in attempts and in concurrency. The rows outlive restarts.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { JobEvents } from "../engine/events.js";
import { isTerminal, type Job } from "../models.js";
import type { JobStore } from "../storage/job-store.js";
import type { DeliveryStatus, WebhookDelivery, WebhookStore } from "../storage/webhook-store.js";
import type { WebhookPolicy } from "./webhook-policy.js";
import { type SendResult, sendWebhook } from "./webhook-sender.js";

export interface WebhookOptions {
  /** Unset only when no host is allowed (the config enforces it); a delivery is never sent unsigned. */
  secret: string | undefined;
  maxAttempts: number;
  backoffS: number;
  timeoutS: number;
  userAgent: string;
  /**
   * Replicas on one database: also look for due deliveries this often while none is pending here, since
   * another replica's claims (it may have died mid-send) and retries are ours to take over once due.
   */
  idlePollMs?: number;
  /** Each attempt's result, for the metrics endpoint. */
  onResult?: (result: "delivered" | "retry" | "failed") => void;
}

/** What `GET /api/job/:id` shows under `webhook`. */
export interface WebhookStatusView {
  url: string;
  status: DeliveryStatus;
  attempts: number;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
}

const TERMINAL_EVENTS: ReadonlySet<string> = new Set(["job.completed", "job.failed", "job.cancelled"]);
const MAX_CONCURRENT = 4;
const BACKFILL_BATCH = 500;
const BACKFILL_MAX_BATCHES = 100;
const MAX_DELAY_MS = 3_600_000;
/** Wake at least this often while deliveries are pending, whatever the clock did meanwhile. */
const MAX_SLEEP_MS = 60_000;
/** Extra time past a send's timeout before a crashed process's attempt counts as lost. */
const LEASE_MARGIN_MS = 5_000;

export class WebhookDispatcher {
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly shutdown = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private unsubscribe: (() => void) | null = null;
  private render: ((job: Job) => string) | null = null;
  private stopped = false;

  constructor(
    private readonly jobs: JobStore,
    private readonly store: WebhookStore,
    private readonly events: JobEvents,
    private readonly policy: WebhookPolicy,
    private readonly opts: WebhookOptions,
    private readonly log: Logger,
  ) {}

  /** The submit-time check (400 naming `webhook_url`). */
  assertAllowed(url: string): void {
    this.policy.assertAllowed(url);
  }

  /** Null when the job has no webhook; `pending` with no attempts until the job has finished. */
  statusOf(job: Job): WebhookStatusView | null {
    if (!job.webhook_url) return null;
    const d = this.store.forJob(job.id);
    return {
      url: job.webhook_url,
      status: d?.status ?? "pending",
      attempts: d?.attempts ?? 0,
      last_status: d?.last_status ?? null,
      last_error: d?.last_error ?? null,
      delivered_at: d?.delivered_at ?? null,
    };
  }

  /**
   * `render` gives a job's payload (the API's job JSON, which needs the server's base URL, hence here and not
   * in the constructor). Subscribing and the backfill run in one tick, so no terminal event falls between.
   */
  start(render: (job: Job) => string): void {
    this.render = render;
    this.unsubscribe = this.events.subscribe((e) => {
      if (TERMINAL_EVENTS.has(e.type)) this.enqueue(e.job_id);
    });
    this.backfill();
    this.pump();
  }

  /** Aborts sends in flight (they are retried on the next start) and waits for them to record that. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.shutdown.abort();
    await Promise.all(this.inflight.values());
  }

  private enqueue(jobId: string): void {
    try {
      if (!this.jobs.webhookUrlOf(jobId)) return; // most jobs have none: skip reading the whole job
      const job = this.jobs.get(jobId);
      if (!job?.webhook_url || !isTerminal(job.status) || !this.render) return;
      const created = this.store.insert({
        id: randomUUID(),
        job_id: job.id,
        event: `job.${job.status}`,
        url: job.webhook_url,
        payload: this.render(job),
      });
      if (created) this.pump();
    } catch (err) {
      // Called from the job event stream: never let a webhook problem reach the JobManager.
      this.log.error({ job_id: jobId, err }, "could not record a webhook delivery");
    }
  }

  /** Deliveries a crash between a job's end and its delivery insert left out. */
  private backfill(): void {
    const since = this.store.sinceMeta();
    let added = 0;
    for (let batch = 0; batch < BACKFILL_MAX_BATCHES; batch++) {
      const ids = this.store.missingDeliveries(since, BACKFILL_BATCH);
      for (const id of ids) this.enqueue(id);
      added += ids.length;
      if (ids.length < BACKFILL_BATCH) break;
    }
    if (added > 0) this.log.info({ deliveries: added }, "created missing webhook deliveries");
  }

  /** Runs from timers and finished sends: a database that cannot be read or written just delays it. */
  private pump(): void {
    try {
      this.pumpDue();
    } catch (err) {
      this.log.error({ err }, "webhook deliveries paused: the database failed; retrying in 1 s");
      if (this.timer) clearTimeout(this.timer);
      this.timer = setTimeout(() => this.pump(), 1000);
      this.timer.unref();
    }
  }

  private pumpDue(): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const free = MAX_CONCURRENT - this.inflight.size;
    if (free <= 0) return; // the next send to finish pumps again
    for (const d of this.store.due(free + this.inflight.size)) {
      if (this.inflight.size >= MAX_CONCURRENT) return;
      if (!this.inflight.has(d.id)) this.launch(d);
    }
    const next = this.store.nextDueAt();
    if (!next && !this.opts.idlePollMs) return;
    const ms = next
      ? Math.min(Math.max(10, Date.parse(next) - Date.now()), MAX_SLEEP_MS)
      : this.opts.idlePollMs!;
    this.timer = setTimeout(() => this.pump(), ms);
    this.timer.unref();
  }

  private launch(d: WebhookDelivery): void {
    const secret = this.opts.secret;
    const refused = secret ? this.policy.problem(d.url) : "webhooks.secret is not set";
    if (refused || !secret) {
      this.store.markFailure(d.id, d.attempts, {
        httpStatus: null,
        error: `not sent: ${refused}`,
        retryAt: null,
      });
      this.log.warn({ job_id: d.job_id, delivery_id: d.id, reason: refused }, "webhook delivery refused");
      return;
    }
    const timeoutMs = this.opts.timeoutS * 1000;
    if (!this.store.claimAttempt(d, iso(Date.now() + timeoutMs + LEASE_MARGIN_MS))) return;
    const attempt = d.attempts + 1;
    const done = sendWebhook({
      url: d.url,
      body: d.payload,
      event: d.event,
      deliveryId: d.id,
      secret,
      userAgent: this.opts.userAgent,
      timeoutMs,
      signal: this.shutdown.signal,
    })
      .then((result) => this.settle(d, attempt, result))
      .catch((err) =>
        this.log.error({ job_id: d.job_id, delivery_id: d.id, err }, "could not record a webhook attempt"),
      )
      .finally(() => {
        this.inflight.delete(d.id);
        this.pump();
      });
    this.inflight.set(d.id, done);
  }

  private settle(d: WebhookDelivery, attempt: number, r: SendResult): void {
    const fields = { job_id: d.job_id, delivery_id: d.id, url: d.url, attempt };
    if (r.ok) {
      this.store.markDelivered(d.id, r.status);
      this.opts.onResult?.("delivered");
      this.log.info({ ...fields, http_status: r.status }, "webhook delivered");
      return;
    }
    if (this.shutdown.signal.aborted) {
      // Cut off by our own shutdown, not the receiver's fault: due again as soon as we start.
      this.store.markFailure(d.id, attempt, {
        httpStatus: null,
        error: "interrupted by shutdown",
        retryAt: iso(Date.now()),
      });
      return;
    }
    if (attempt >= this.opts.maxAttempts) {
      this.store.markFailure(d.id, attempt, { httpStatus: r.status, error: r.error, retryAt: null });
      this.opts.onResult?.("failed");
      this.log.warn({ ...fields, http_status: r.status, error: r.error }, "webhook delivery failed for good");
      return;
    }
    // Exponential backoff with jitter, so receivers that come back are not hit by every sender at once.
    const base = Math.min(this.opts.backoffS * 1000 * 2 ** (attempt - 1), MAX_DELAY_MS);
    const retryAt = iso(Date.now() + base * (0.75 + Math.random() * 0.5));
    this.store.markFailure(d.id, attempt, { httpStatus: r.status, error: r.error, retryAt });
    this.opts.onResult?.("retry");
    this.log.info(
      { ...fields, http_status: r.status, error: r.error, next_attempt_at: retryAt },
      "webhook attempt failed",
    );
  }
}

const iso = (ms: number) => new Date(ms).toISOString();
