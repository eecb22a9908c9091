// Webhooks with two replicas on one database, each its own process running its own delivery loop: every
// attempt is claimed by one of them, so each job's webhook is sent exactly as often as its answers ask for.
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/core/storage/database.js";
import { WebhookStore } from "../../src/core/storage/webhook-store.js";
import { type Receiver, SECRET, startReceiver, waitForWebhook } from "../delivery/delivery-helpers.js";
import { api, eventually, submit, untilHealthy } from "../helpers/api.js";
import { type ChildOrchestrator, makeTestDir } from "../helpers/orchestrator.js";
import { type ReplicaSet, replicaSet, spawnReplica, startReplica } from "../helpers/replicas.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

const JOBS = 16;

let sim: Simulator;
let receiver: Receiver;
let set: ReplicaSet;
const replicas: ChildOrchestrator[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  receiver = await startReceiver();
  set = await replicaSet({
    backends: [{ id: "sim-1", url: sim.url, max_inflight: 4 }],
    overrides: {
      // Fast retries: both replicas' delivery loops wake for the same retry at about the same moment.
      // A roomy timeout: a slow machine must not turn an answered send into an extra attempt.
      webhooks: { secret: SECRET, allowed_hosts: ["127.0.0.1"], backoff_s: 0.2, timeout_s: 5 },
    },
  });
  for (const id of ["r1", "r2"]) {
    const dir = makeTestDir();
    dirs.push(dir);
    replicas.push(await spawnReplica(set, id, dir));
  }
  for (const r of replicas) await untilHealthy(r.url, 20_000);
}, 60_000);

afterAll(async () => {
  for (const r of replicas) await r.kill("SIGTERM");
  await receiver?.close();
  await sim?.close();
  for (const d of [...dirs, set?.dataDir]) if (d) rmSync(d, { recursive: true, force: true });
});

describe("webhooks across replicas", () => {
  it("sends each attempt once although both replicas run their delivery loops", async () => {
    // Every delivery's first attempt gets a 500 and its second a 200: a retry sent by both replicas would
    // show as a third hit and a third attempt.
    const seen = new Set<string>();
    receiver.decide = (h) => {
      const id = String(h["x-orchestrator-delivery"]);
      if (seen.has(id)) return 200;
      seen.add(id);
      return 500;
    };
    const ids = await Promise.all(
      Array.from({ length: JOBS }, (_, i) =>
        submit(replicas[i % 2]!.url, {
          workflow_id: "invert_image",
          parameters: { width: 8, height: 8 },
          webhook_url: receiver.url,
          metadata: { n: i },
        }),
      ),
    );
    for (const [i, id] of ids.entries()) {
      // Read from the other replica than the one that took the job: the delivery row is shared.
      const job = await waitForWebhook(
        replicas[(i + 1) % 2]!.url,
        id,
        (w) => w.status === "delivered",
        30_000,
      );
      expect(job.webhook).toMatchObject({ status: "delivered", attempts: 2, last_status: 200 });
    }
    // A last look a moment later: a duplicate send would land after the row says delivered.
    await new Promise((r) => setTimeout(r, 500));
    for (const id of ids) {
      const hits = receiver.received.filter((r) => JSON.parse(r.body).job_id === id);
      expect(hits.map((h) => h.answer)).toEqual([500, 200]);
      expect(new Set(hits.map((h) => h.headers["x-orchestrator-delivery"])).size).toBe(1);
    }
    const job = (await api(replicas[0]!.url, "GET", `/api/job/${ids[0]}`)).body;
    expect(job.status).toBe("completed");
  }, 90_000);
});

describe("a delivery claim", () => {
  it("is won by one of two replicas that read the same due delivery, and only the winner records its end", () => {
    // Each replica's own connection, as its dispatcher has: both read the row before either claims it,
    // the interleaving two processes hit now and then.
    const dbs = [1, 2].map(() => openDatabase("", { url: set.databaseUrl, timeoutMs: 5000 }));
    try {
      const [a, b] = dbs.map((db) => new WebhookStore(db)) as [WebhookStore, WebhookStore];
      const id = randomUUID();
      a.insert({ id, job_id: `job-${id}`, event: "job.completed", url: receiver.url, payload: "{}" });
      const seenA = a.due(100).find((d) => d.id === id)!;
      const seenB = b.due(100).find((d) => d.id === id)!;
      expect(seenB).toEqual(seenA);
      const lease = new Date(Date.now() + 60_000).toISOString();
      expect(a.claimAttempt(seenA, lease)).toBe(true);
      expect(b.claimAttempt(seenB, lease)).toBe(false);
      // A stale attempt count (a send that outlived its claim) changes nothing.
      b.markFailure(id, 0, { httpStatus: 500, error: "late", retryAt: new Date().toISOString() });
      expect(a.forJob(`job-${id}`)).toMatchObject({ attempts: 1, next_attempt_at: lease, last_error: null });
      a.markFailure(id, 1, { httpStatus: 500, error: "HTTP 500", retryAt: null });
      expect(b.forJob(`job-${id}`)).toMatchObject({ status: "failed", attempts: 1, last_status: 500 });
    } finally {
      for (const db of dbs) db.close();
    }
  });
});

describe("a replica that dies mid-send", () => {
  it("leaves its claimed delivery to another replica once the claim's lease has run out", async () => {
    const own = await replicaSet({
      backends: [{ id: "sim-1", url: sim.url }],
      overrides: {
        webhooks: { secret: SECRET, allowed_hosts: ["127.0.0.1"], backoff_s: 0.2, timeout_s: 2 },
        // The dead replica's host lease should not hold up the second one's start.
        ha: { lease_s: 2 },
      },
    });
    const dir = makeTestDir();
    dirs.push(dir, own.dataDir);
    const first = await spawnReplica(own, "d1", dir);
    await untilHealthy(first.url, 20_000);
    // The first send of this delivery gets no answer at all; the one after it a 200.
    const hits = new Map<string, number>();
    receiver.decide = (h) => {
      const id = String(h["x-orchestrator-delivery"]);
      hits.set(id, (hits.get(id) ?? 0) + 1);
      return hits.get(id) === 1 ? "hang" : 200;
    };
    const id = await submit(first.url, {
      workflow_id: "invert_image",
      parameters: { width: 8, height: 8 },
      webhook_url: receiver.url,
    });
    const sent = () => receiver.received.filter((r) => JSON.parse(r.body).job_id === id);
    await eventually(() => sent().length === 1, 20_000, "the first send");
    const killedAt = Date.now();
    await first.kill("SIGKILL");
    const second = await startReplica(own, "d2");
    try {
      const job = await waitForWebhook(second.url, id, (w) => w.status === "delivered", 30_000);
      expect(job.webhook).toMatchObject({ status: "delivered", attempts: 2, last_status: 200 });
      // Not before the claim ran out: timeout_s (2 s) plus the 5 s margin from the claim, which came a little
      // before the kill (a retry without the lease would come after backoff_s, 0.2 s).
      expect(Date.now() - killedAt).toBeGreaterThan(3_000);
      expect(sent().map((r) => r.answer)).toEqual(["hang", 200]);
    } finally {
      await second.stop();
    }
  }, 60_000);
});
