// Webhook deliveries in SQLite: one row per finished job that asked for a webhook. The row holds the exact
// body to sign and send, so a retry (even after a restart) sends the same bytes under the same delivery id.
import type { SqlDatabase } from "./sql.js";

export const DELIVERY_STATUSES = ["pending", "delivered", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

export interface WebhookDelivery {
  id: string;
  job_id: string;
  event: string;
  url: string;
  payload: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string;
  last_status: number | null;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  delivered_at: string | null;
}

export type NewDelivery = Pick<WebhookDelivery, "id" | "job_id" | "event" | "url" | "payload">;

/** How one send ended: `retryAt` null means no further attempt (the delivery has failed for good). */
export interface DeliveryFailure {
  httpStatus: number | null;
  error: string;
  retryAt: string | null;
}

const now = () => new Date().toISOString();

export class WebhookStore {
  private readonly stmts;

  constructor(db: SqlDatabase) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO webhook_deliveries (id, job_id, event, url, payload, status,
        attempts, next_attempt_at, created_at, updated_at)
        VALUES (@id, @job_id, @event, @url, @payload, 'pending', 0, @now, @now, @now) ON CONFLICT DO NOTHING`),
      byJob: db.prepare("SELECT * FROM webhook_deliveries WHERE job_id = ?"),
      due: db.prepare(`SELECT * FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
        ORDER BY next_attempt_at LIMIT ?`),
      nextDue: db.prepare(
        "SELECT MIN(next_attempt_at) AS at FROM webhook_deliveries WHERE status = 'pending'",
      ),
      begin:
        db.prepare(`UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ?
        WHERE id = ? AND status = 'pending'`),
      delivered:
        db.prepare(`UPDATE webhook_deliveries SET status = 'delivered', last_status = ?, last_error = NULL,
        delivered_at = ?, updated_at = ? WHERE id = ?`),
      failed: db.prepare(`UPDATE webhook_deliveries SET status = ?, last_status = ?, last_error = ?,
        next_attempt_at = COALESCE(?, next_attempt_at), updated_at = ? WHERE id = ?`),
      missing: db.prepare(`SELECT j.id FROM jobs j LEFT JOIN webhook_deliveries d ON d.job_id = j.id
        WHERE j.webhook_url IS NOT NULL AND j.status IN ('completed', 'failed', 'cancelled')
        AND j.finished_at >= ? AND d.job_id IS NULL ORDER BY j.finished_at LIMIT ?`),
      metaGet: db.prepare("SELECT value FROM meta WHERE key = ?"),
    };
  }

  /** False when the job already has a delivery (the event and the start-up backfill may both try). */
  insert(d: NewDelivery): boolean {
    return this.stmts.insert.run({ ...d, now: now() }).changes === 1;
  }

  forJob(jobId: string): WebhookDelivery | null {
    return (this.stmts.byJob.get(jobId) as WebhookDelivery | undefined) ?? null;
  }

  /** Pending deliveries whose next attempt is due, oldest first. */
  due(limit: number): WebhookDelivery[] {
    return this.stmts.due.all(now(), limit) as WebhookDelivery[];
  }

  /** When the earliest pending delivery is due, or null when none is pending. */
  nextDueAt(): string | null {
    return (this.stmts.nextDue.get() as { at: string | null }).at;
  }

  /**
   * Counts an attempt before it is sent and pushes the next one out to `leaseUntil`, so a process that dies
   * mid-send neither loses the attempt nor re-sends before the send could have timed out.
   */
  beginAttempt(id: string, leaseUntil: string): boolean {
    return this.stmts.begin.run(leaseUntil, now(), id).changes === 1;
  }

  markDelivered(id: string, httpStatus: number): void {
    const at = now();
    this.stmts.delivered.run(httpStatus, at, at, id);
  }

  markFailure(id: string, f: DeliveryFailure): void {
    this.stmts.failed.run(f.retryAt ? "pending" : "failed", f.httpStatus, f.error, f.retryAt, now(), id);
  }

  /** Finished jobs with a webhook_url and no delivery, finished at or after `sinceIso` (crash recovery). */
  missingDeliveries(sinceIso: string, limit: number): string[] {
    return (this.stmts.missing.all(sinceIso, limit) as { id: string }[]).map((r) => r.id);
  }

  sinceMeta(): string {
    return (this.stmts.metaGet.get("webhooks_since") as { value: string } | undefined)?.value ?? now();
  }
}
