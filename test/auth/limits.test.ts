// Per-key limits: requests per minute (429 RATE_LIMITED with Retry-After) and unfinished jobs
// (429 QUOTA_EXCEEDED naming max_queued), with defaults for keys that set neither.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { as, bearer, startKeyed } from "./auth-helpers.js";

const KEY = {
  chatty: "chatty-key-0123456789abcdef",
  quiet: "quiet-key-0123456789abcdefg",
  capped: "capped-key-0123456789abcdef",
  plain: "plain-key-0123456789abcdefg",
};
const manifest = { workflow_id: "invert_image", parameters: { width: 8, height: 8 } };

let sim: Simulator;
let orch: RunningOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
  // The host is disabled, so submitted jobs stay queued and count against max_queued.
  orch = await startKeyed({
    backends: [{ id: "sim", url: sim.url, enabled: false }],
    auth: {
      keys: [
        { id: "chatty", key: KEY.chatty, role: "read", rate_limit_per_min: 3 },
        { id: "quiet", key: KEY.quiet, role: "read", rate_limit_per_min: 3 },
        { id: "capped", key: KEY.capped, role: "submit", max_queued: 2, rate_limit_per_min: 0 },
        { id: "plain", key: KEY.plain, role: "submit" },
      ],
      defaults: { max_queued: 1, rate_limit_per_min: 0 },
    },
  });
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

describe("rate_limit_per_min", () => {
  it("answers 429 RATE_LIMITED with Retry-After past the rate, per key", async () => {
    const chatty = as(KEY.chatty);
    for (let i = 0; i < 3; i++) expect((await chatty(orch.url, "GET", "/api/workflows")).status).toBe(200);
    const r = await chatty(orch.url, "GET", "/api/workflows");
    expectError(r, 429, "RATE_LIMITED");
    const retryAfter = Number(r.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    expect(r.body.error.details).toMatchObject({ key_id: "chatty", rate_limit_per_min: 3 });
    // Another key has its own allowance.
    expect((await as(KEY.quiet)(orch.url, "GET", "/api/workflows")).status).toBe(200);
  });
});

describe("max_queued", () => {
  it("refuses a submit past the limit with 429 QUOTA_EXCEEDED naming it, and takes one again after a cancel", async () => {
    const capped = as(KEY.capped);
    const first = await capped(orch.url, "POST", "/api/job", manifest);
    expect(first.status).toBe(202);
    expect((await capped(orch.url, "POST", "/api/job", manifest)).status).toBe(202);
    const r = await capped(orch.url, "POST", "/api/job", manifest);
    expectError(r, 429, "QUOTA_EXCEEDED");
    expect(r.body.error.message).toContain("max_queued is 2");
    expect(r.body.error.details).toMatchObject({ key_id: "capped", max_queued: 2, unfinished: 2 });
    expect((await capped(orch.url, "GET", "/api/jobs")).body.jobs).toHaveLength(2);

    expect((await capped(orch.url, "POST", `/api/job/${first.body.job_id}/cancel`)).status).toBe(200);
    expect((await capped(orch.url, "POST", "/api/job", manifest)).status).toBe(202);
  });

  it("holds under concurrent submits, and the default applies to keys without their own", async () => {
    const results = await Promise.all(
      Array.from({ length: 6 }, () => api(orch.url, "POST", "/api/job", manifest, bearer(KEY.plain))),
    );
    expect(results.filter((r) => r.status === 202)).toHaveLength(1);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(5);
    expect(refused[0]!.body.error.details.max_queued).toBe(1);
  });
});
