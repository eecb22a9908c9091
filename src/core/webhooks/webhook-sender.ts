// One signed webhook POST. undici.request never follows redirects (a 3xx is a failed attempt), so a receiver
// cannot bounce the request to a host the allow-list would refuse.
import { createHmac } from "node:crypto";
import { request } from "undici";

export const SIGNATURE_HEADER = "x-orchestrator-signature";
export const EVENT_HEADER = "x-orchestrator-event";
export const DELIVERY_HEADER = "x-orchestrator-delivery";

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes under the shared secret. */
export function signBody(secret: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;
}

export interface WebhookRequest {
  url: string;
  body: string;
  event: string;
  deliveryId: string;
  secret: string;
  userAgent: string;
  timeoutMs: number;
  /** Aborts the send when the server stops. */
  signal: AbortSignal;
}

export type SendResult = { ok: true; status: number } | { ok: false; status: number | null; error: string };

export async function sendWebhook(r: WebhookRequest): Promise<SendResult> {
  const signal = AbortSignal.any([r.signal, AbortSignal.timeout(r.timeoutMs)]);
  try {
    const res = await request(r.url, {
      method: "POST",
      body: r.body,
      headers: {
        "content-type": "application/json",
        "user-agent": r.userAgent,
        [EVENT_HEADER]: r.event,
        [DELIVERY_HEADER]: r.deliveryId,
        [SIGNATURE_HEADER]: signBody(r.secret, r.body),
      },
      signal,
    });
    // The answer's body means nothing to us; read a little of it so the connection can be reused.
    await res.body.dump({ limit: 64 * 1024, signal }).catch(() => undefined);
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode };
    return { ok: false, status: res.statusCode, error: `receiver answered HTTP ${res.statusCode}` };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    if (signal.aborted && !r.signal.aborted)
      return { ok: false, status: null, error: `no answer within ${r.timeoutMs / 1000} s` };
    const cause = e.cause?.code ?? e.cause?.message;
    return { ok: false, status: null, error: cause ? `${e.message} (${cause})` : e.message };
  }
}
