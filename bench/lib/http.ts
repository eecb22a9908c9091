// The bench's one HTTP client (undici, keep-alive), used alike for Orchestrator, the hosts and the
// baselines so that client cost is the same on both sides of every ratio.
import { Agent, request } from "undici";

export const agent = new Agent({ keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, connections: 256 });

export interface JsonReply<T = unknown> {
  status: number;
  body: T;
}

async function json<T>(res: Awaited<ReturnType<typeof request>>): Promise<JsonReply<T>> {
  const text = await res.body.text();
  let body: unknown = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  return { status: res.statusCode, body: body as T };
}

export async function getJson<T = unknown>(
  url: string,
  timeoutMs = 30_000,
  headers: Record<string, string> = {},
): Promise<JsonReply<T>> {
  return json<T>(
    await request(url, { dispatcher: agent, headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs }),
  );
}

export async function postJson<T = unknown>(
  url: string,
  body: unknown,
  timeoutMs = 30_000,
  headers: Record<string, string> = {},
): Promise<JsonReply<T>> {
  return json<T>(
    await request(url, {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify(body),
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    }),
  );
}

/** Downloads a file and throws the bytes away: returns how many arrived and how long it took. */
export async function drain(url: string, timeoutMs = 120_000): Promise<{ bytes: number; ms: number }> {
  const t0 = performance.now();
  const res = await request(url, { dispatcher: agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    throw new Error(`GET ${url}: ${res.statusCode} ${text.slice(0, 300)}`);
  }
  let bytes = 0;
  for await (const chunk of res.body) bytes += (chunk as Buffer).length;
  return { bytes, ms: performance.now() - t0 };
}
