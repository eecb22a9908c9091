// Small HTTP helpers for talking to the Orchestrator under test.
import { expect } from "vitest";
import { checkContract } from "./contract.js";

export async function api(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  await checkContract(res.url, method, res.status, res.headers.get("content-type"), json);
  return { status: res.status, body: json, headers: res.headers };
}

export async function submit(base: string, manifest: unknown, headers: Record<string, string> = {}) {
  const r = await api(base, "POST", "/api/job", manifest, headers);
  if (r.status !== 202 && r.status !== 200)
    throw new Error(`submit failed ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body.job_id as string;
}

/** Polls GET /api/job/:id until `pred` holds (bounded: fails the test after `timeoutMs`). */
export async function waitForJob(
  base: string,
  id: string,
  pred: (job: any) => boolean = isDone,
  timeoutMs = 20_000,
  headers: Record<string, string> = {},
) {
  const deadline = Date.now() + timeoutMs;
  let last: any = null;
  while (Date.now() < deadline) {
    const r = await api(base, "GET", `/api/job/${id}`, undefined, headers);
    last = r.body;
    if (r.status === 200 && pred(last)) return last;
    if (r.status === 200 && isDone(last))
      throw new Error(
        `job ${id} ended ${last.status} before the expected state: ${JSON.stringify(last).slice(0, 600)}`,
      );
    await new Promise((res) => setTimeout(res, 25));
  }
  throw new Error(
    `job ${id} did not reach the expected state in time; last: ${JSON.stringify(last)?.slice(0, 600)}`,
  );
}

export const isDone = (j: any) => ["completed", "failed", "cancelled"].includes(j.status);

/** Polls until `fn` returns a truthy value (bounded). */
export async function eventually<T>(
  fn: () => Promise<T> | T,
  timeoutMs = 10_000,
  what = "condition",
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 25));
  }
}

export function expectError(r: { status: number; body: any }, status: number, code: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error.code).toBe(code);
  expect(typeof r.body.error.message).toBe("string");
  expect(r.body.error).toHaveProperty("details");
}

/** Waits until /api/health says every enabled backend is online. */
export async function untilHealthy(base: string, timeoutMs = 10_000): Promise<void> {
  await eventually(
    async () => (await api(base, "GET", "/api/health")).body?.status === "ok",
    timeoutMs,
    "backends online",
  );
}
