// Closed-loop HTTP load: `clients` workers on their own keep-alive connections (an undici Pool), each
// sending its next request as soon as the previous answered, until `total` requests are done.
import { Pool } from "undici";

export interface LoadResult {
  total: number;
  ms: number;
  perSecond: number;
  /** Per-request latencies in ms. */
  latencies: number[];
  /** Responses by status code. */
  statuses: Map<number, number>;
  errors: number;
}

export interface LoadSpec {
  origin: string;
  clients: number;
  total: number;
  /** The i-th request (0-based). */
  request(i: number): { method: "GET" | "POST"; path: string; body?: string };
}

export async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const pool = new Pool(spec.origin, { connections: spec.clients, pipelining: 1, keepAliveTimeout: 60_000 });
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  let errors = 0;
  const worker = async () => {
    for (let i = next++; i < spec.total; i = next++) {
      const r = spec.request(i);
      const t = performance.now();
      try {
        const res = await pool.request({
          method: r.method,
          path: r.path,
          headers: r.body ? { "content-type": "application/json" } : {},
          body: r.body,
          headersTimeout: 30_000,
          bodyTimeout: 30_000,
        });
        await res.body.dump();
        latencies.push(performance.now() - t);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      } catch {
        errors++;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: spec.clients }, worker));
  const ms = performance.now() - t0;
  await pool.close();
  return { total: spec.total, ms, perSecond: (spec.total / ms) * 1000, latencies, statuses, errors };
}

/** "202×4000" or "202×3990, 500×10, errors 2": what came back, for the details. */
export function describeStatuses(r: LoadResult): string {
  const parts = [...r.statuses.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}×${n}`);
  if (r.errors) parts.push(`errors ${r.errors}`);
  return parts.join(", ");
}
