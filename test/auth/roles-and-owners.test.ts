// Access control seen from clients: 401 without a valid key, 403 for a role that may not, another key's
// job answering 404 everywhere it can be named (GET, cancel, outputs, SSE, WebSocket), admins seeing all.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, submit, waitForJob } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { as, bearer, KEYS, startKeyed, WsClient } from "./auth-helpers.js";

let sim: Simulator;
let orch: RunningOrchestrator;
const admin = as(KEYS.admin);
const alice = as(KEYS.alice);
const bob = as(KEYS.bob);
const reader = as(KEYS.reader);
const manifest = { workflow_id: "invert_image", parameters: { width: 8, height: 8 } };
let aliceJob: string;
let bobJob: string;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
  orch = await startKeyed({ backends: [{ id: "sim", url: sim.url }] });
  aliceJob = await submit(orch.url, manifest, bearer(KEYS.alice));
  bobJob = await submit(orch.url, manifest, bearer(KEYS.bob));
  await waitForJob(orch.url, aliceJob, undefined, undefined, bearer(KEYS.alice));
  await waitForJob(orch.url, bobJob, undefined, undefined, bearer(KEYS.bob));
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

describe("without a valid key", () => {
  it("health stays public and says auth is on", async () => {
    const r = await api(orch.url, "GET", "/api/health");
    expect(r.status).toBe(200);
    expect(r.body.auth).toBe("on");
  });

  it("every other /api route answers 401 UNAUTHENTICATED with a Bearer challenge", async () => {
    for (const [method, path] of [
      ["GET", "/api/jobs"],
      ["GET", `/api/job/${aliceJob}`],
      ["POST", "/api/job"],
      ["GET", "/api/workflows"],
      ["GET", "/api/backends"],
      ["POST", "/api/backends/sim/drain"],
      ["GET", "/api/keys"],
      ["GET", `/api/job/${aliceJob}/events`],
    ] as const) {
      const r = await api(orch.url, method, path, method === "POST" ? manifest : undefined);
      expectError(r, 401, "UNAUTHENTICATED");
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer/);
    }
  });

  it("an unknown key is refused the same way", async () => {
    const r = await api(orch.url, "GET", "/api/jobs", undefined, bearer("not-a-key-0123456789abcdef"));
    expectError(r, 401, "UNAUTHENTICATED");
    expect(r.body.error.message).toBe("Unknown API key");
  });

  it("X-API-Key works like Authorization: Bearer", async () => {
    const r = await api(orch.url, "GET", "/api/workflows", undefined, { "x-api-key": KEYS.reader });
    expect(r.status).toBe(200);
  });
});

describe("roles", () => {
  it("a read key may read but not submit", async () => {
    expect((await reader(orch.url, "GET", "/api/workflows")).status).toBe(200);
    expect((await reader(orch.url, "GET", "/api/backends")).status).toBe(200);
    const r = await reader(orch.url, "POST", "/api/job", manifest);
    expectError(r, 403, "FORBIDDEN");
    expect(r.body.error.details).toMatchObject({ key_id: "reader", role: "read", required_role: "submit" });
  });

  it("a submit key may not drain a host; an admin may", async () => {
    expectError(await alice(orch.url, "POST", "/api/backends/sim/drain"), 403, "FORBIDDEN");
    expect((await alice(orch.url, "GET", "/api/backends")).body.backends[0].state).toBe("online");
    const drained = await admin(orch.url, "POST", "/api/backends/sim/drain");
    expect(drained.status).toBe(200);
    expect((await admin(orch.url, "POST", "/api/backends/sim/enable")).status).toBe(200);
  });

  it("only an admin manages keys", async () => {
    expectError(await alice(orch.url, "GET", "/api/keys"), 403, "FORBIDDEN");
    expectError(await alice(orch.url, "POST", "/api/keys", { role: "admin" }), 403, "FORBIDDEN");
  });
});

describe("each job belongs to the key that made it", () => {
  it("records the owner, which an admin sees", async () => {
    const r = await admin(orch.url, "GET", `/api/job/${aliceJob}`);
    expect(r.status).toBe(200);
    expect(r.body.owner).toBe("alice");
  });

  it("another key gets the same 404 as for a job that does not exist (GET, cancel, outputs)", async () => {
    const own = await alice(orch.url, "GET", `/api/job/${aliceJob}`);
    expect(own.status).toBe(200);
    const file = own.body.outputs[0].filename;
    expect((await alice(orch.url, "GET", `/api/job/${aliceJob}/outputs/${file}`)).status).toBe(200);

    const missing = await bob(orch.url, "GET", "/api/job/no-such-job");
    for (const [method, path] of [
      ["GET", `/api/job/${aliceJob}`],
      ["DELETE", `/api/job/${aliceJob}`],
      ["POST", `/api/job/${aliceJob}/cancel`],
      ["GET", `/api/job/${aliceJob}/outputs/${file}`],
      ["DELETE", `/api/job/${aliceJob}/outputs`],
      ["GET", `/api/job/${aliceJob}/events`],
    ] as const) {
      const r = await bob(orch.url, method, path);
      expectError(r, 404, "JOB_NOT_FOUND");
      expect(JSON.stringify(r.body).replaceAll(aliceJob, "no-such-job")).toBe(JSON.stringify(missing.body));
    }
    // A read key owns no jobs, so it sees none of them either.
    expectError(await reader(orch.url, "GET", `/api/job/${aliceJob}`), 404, "JOB_NOT_FOUND");
    // Nothing happened to the job.
    expect((await alice(orch.url, "GET", `/api/job/${aliceJob}`)).body.outputs).toHaveLength(1);
  });

  it("lists show a key only its own jobs, and an admin all of them", async () => {
    const ids = async (who: typeof alice) =>
      (await who(orch.url, "GET", "/api/jobs")).body.jobs.map((j: { job_id: string }) => j.job_id);
    expect(await ids(alice)).toEqual([aliceJob]);
    expect(await ids(bob)).toEqual([bobJob]);
    expect(await ids(reader)).toEqual([]);
    expect(new Set(await ids(admin))).toEqual(new Set([aliceJob, bobJob]));
  });

  it("SSE takes ?token= (EventSource cannot send headers), only for the key's own job", async () => {
    const own = await fetch(`${orch.url}/api/job/${aliceJob}/events?token=${KEYS.alice}`);
    expect(own.status).toBe(200);
    expect(await own.text()).toContain("event: job.snapshot");
    const other = await api(orch.url, "GET", `/api/job/${aliceJob}/events?token=${KEYS.bob}`);
    expectError(other, 404, "JOB_NOT_FOUND");
    // Other routes do not read ?token=, so the key does not end up in more URLs than it must.
    expectError(
      await api(orch.url, "GET", `/api/job/${aliceJob}?token=${KEYS.alice}`),
      401,
      "UNAUTHENTICATED",
    );
  });
});

describe("WebSocket /api/ws", () => {
  it("refuses the upgrade for a bad key in the headers", async () => {
    await expect(WsClient.open(orch.url, bearer("not-a-key-0123456789abcdef"))).rejects.toThrow(/401/);
  });

  it("without a key in the headers, the first message must be auth", async () => {
    const c = await WsClient.open(orch.url);
    c.send({ type: "subscribe", all: true });
    const err = await c.until((m) => m.type === "error");
    expect(err.error.code).toBe("UNAUTHENTICATED");
    expect((await c.closed).code).toBe(4401);

    const bad = await WsClient.open(orch.url);
    bad.send({ type: "auth", token: "not-a-key-0123456789abcdef" });
    expect((await bad.until((m) => m.type === "error")).error.code).toBe("UNAUTHENTICATED");
    expect((await bad.closed).code).toBe(4401);

    const good = await WsClient.open(orch.url);
    good.send({ type: "auth", token: KEYS.alice });
    expect(await good.until((m) => m.type === "authenticated")).toMatchObject({
      key_id: "alice",
      role: "submit",
    });
    good.send({ type: "subscribe", job_ids: [aliceJob] });
    expect((await good.until((m) => m.type === "job.snapshot")).job_id).toBe(aliceJob);
    good.close();
  });

  it("subscribing to another key's job answers JOB_NOT_FOUND", async () => {
    const c = await WsClient.open(orch.url, bearer(KEYS.bob));
    c.send({ type: "subscribe", job_ids: [aliceJob] });
    const err = await c.until((m) => m.type === "error");
    expect(err.error).toMatchObject({ code: "JOB_NOT_FOUND", details: { job_ids: [aliceJob] } });
    expect(c.messages.some((m) => m.type === "job.snapshot")).toBe(false);
    c.close();
  });

  it("\"all\" gives a key only its own jobs' events, and an admin everyone's", async () => {
    const bobAll = await WsClient.open(orch.url, bearer(KEYS.bob));
    const adminAll = await WsClient.open(orch.url, bearer(KEYS.admin));
    for (const c of [bobAll, adminAll]) {
      c.send({ type: "subscribe", all: true });
      await c.until((m) => m.type === "subscribed");
    }
    const a = await submit(orch.url, manifest, bearer(KEYS.alice));
    const b = await submit(orch.url, manifest, bearer(KEYS.bob));
    await adminAll.until((m) => m.type === "job.completed" && m.job_id === a, "alice's job to end");
    await adminAll.until((m) => m.type === "job.completed" && m.job_id === b, "bob's job to end");
    await bobAll.until((m) => m.type === "job.completed" && m.job_id === b, "bob's own job to end");
    expect(bobAll.messages.filter((m) => m.job_id === a)).toEqual([]);
    bobAll.close();
    adminAll.close();
  });
});
