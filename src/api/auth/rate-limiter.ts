// Requests per minute per API key, as a token bucket: a key may burst up to its whole minute's allowance,
// then gets one request per 60/limit seconds. In memory: a restart forgets how much a key has used.
export type Take = { ok: true } | { ok: false; retryAfterS: number };

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  take(key: string, perMin: number, now = Date.now()): Take {
    if (perMin <= 0) return { ok: true };
    const perMs = perMin / 60_000;
    const b = this.buckets.get(key) ?? { tokens: perMin, at: now };
    b.tokens = Math.min(perMin, b.tokens + (now - b.at) * perMs);
    b.at = now;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000)) };
  }
}
