// Webhook deliveries in the database: one row per finished job that asked for a webhook. The row holds the
// exact body to sign and send, so a retry (even after a restart, or by another replica) sends the same bytes
// under the same delivery id. Each attempt is claimed by a compare-and-set on the row, so replicas sharing
// one PostgreSQL database never send one attempt twice.
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
      // The row as it was read must still be there: a replica that read it too updates 0 rows and moves on.
      claim:
        db.prepare(`UPDATE webhook_deliveries SET attempts = attempts + 1, next_attempt_at = ?, updated_at = ?
        WHERE id = ? AND status = 'pending' AND attempts = ? AND next_attempt_at = ?`),
      delivered:
        db.prepare(`UPDATE webhook_deliveries SET status = 'delivered', last_status = ?, last_error = NULL,
        delivered_at = ?, updated_at = ? WHERE id = ?`),
      // Only the latest claim records a failure: a send that outlived its claim must not undo a newer claim's
      // lease or revive a row another replica has delivered.
      failed: db.prepare(`UPDATE webhook_deliveries SET status = ?, last_status = ?, last_error = ?,
        next_attempt_at = COALESCE(?, next_attempt_at), updated_at = ?
        WHERE id = ? AND status = 'pending' AND attempts = ?`),
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
   * Claims the next attempt of `d` as read: counts it before it is sent and pushes the next one out to
   * `leaseUntil`, so a process that dies mid-send neither loses the attempt nor lets anyone re-send before the
   * send could have timed out. False when another replica (or an earlier pass) claimed it first.
   */
  claimAttempt(d: Pick<WebhookDelivery, "id" | "attempts" | "next_attempt_at">, leaseUntil: string): boolean {
    return this.stmts.claim.run(leaseUntil, now(), d.id, d.attempts, d.next_attempt_at).changes === 1;
  }

  markDelivered(id: string, httpStatus: number): void {
    const at = now();
    this.stmts.delivered.run(httpStatus, at, at, id);
  }

  /** `attempts` is the delivery's attempt count as this failure left it (the claim's, or the unsent row's). */
  markFailure(id: string, attempts: number, f: DeliveryFailure): void {
    const status = f.retryAt ? "pending" : "failed";
    this.stmts.failed.run(status, f.httpStatus, f.error, f.retryAt, now(), id, attempts);
  }

  /** Finished jobs with a webhook_url and no delivery, finished at or after `sinceIso` (crash recovery). */
  missingDeliveries(sinceIso: string, limit: number): string[] {
    return (this.stmts.missing.all(sinceIso, limit) as { id: string }[]).map((r) => r.id);
  }

  sinceMeta(): string {
    return (this.stmts.metaGet.get("webhooks_since") as { value: string } | undefined)?.value ?? now();
  }
}
