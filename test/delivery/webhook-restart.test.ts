// Webhook deliveries live in the database: a restart picks up the pending ones, and one a crash never
// recorded (the job ended, the delivery insert did not happen) is created at start-up.
import { rmSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import {
  type Receiver,
  startDeliveryOrchestrator,
  startReceiver,
  waitForWebhook,
} from "./delivery-helpers.js";

let sim: Simulator;
let receiver: Receiver;
const dirs: string[] = [];

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 5 });
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
  await sim?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function start(dir: string) {
  const orch = await startDeliveryOrchestrator({
    backends: [{ id: "sim-1", url: sim.url }],
    dir,
    webhooks: { max_attempts: 20 },
  });
  await untilHealthy(orch.url);
  return orch;
}

describe("webhook deliveries across restarts", () => {
  it("a delivery that failed while the receiver was down is sent by the next process", async () => {
    const dir = makeTestDir();
    dirs.push(dir);
    receiver.fallback = "drop";
    const first = await start(dir);
    let id: string;
    try {
      id = await submit(first.url, {
        workflow_id: "invert_image",
        parameters: { width: 8, height: 8 },
        webhook_url: receiver.url,
      });
      const job = await waitForWebhook(first.url, id, (w) => w.attempts >= 1 && w.last_error !== null);
      expect(job.status).toBe("completed");
      expect(job.webhook.status).toBe("pending");
    } finally {
      await first.stop();
    }
    const dropped = receiver.received.length;
    expect(dropped).toBeGreaterThanOrEqual(1);

    receiver.fallback = 200;
    const second = await start(dir);
    try {
      const job = await waitForWebhook(second.url, id, (w) => w.status === "delivered");
      // A send cut off by the shutdown counts as an attempt the receiver may never have seen.
      expect(job.webhook.attempts).toBeGreaterThanOrEqual(receiver.received.length);
      const hits = receiver.received;
      expect(hits.at(-1)!.answer).toBe(200);
      // Same delivery, same bytes, whichever process sent it.
      expect(new Set(hits.map((h) => h.headers["x-orchestrator-delivery"])).size).toBe(1);
      expect(new Set(hits.map((h) => h.body)).size).toBe(1);
    } finally {
      await second.stop();
    }
  });

  it("a finished job whose delivery was never recorded gets one at start-up", async () => {
    const dir = makeTestDir();
    dirs.push(dir);
    receiver.received.length = 0;
    receiver.fallback = 200;
    const first = await start(dir);
    let id: string;
    try {
      id = await submit(first.url, {
        workflow_id: "invert_image",
        parameters: { width: 8, height: 8 },
        webhook_url: receiver.url,
      });
      await waitForJob(first.url, id);
      await waitForWebhook(first.url, id, (w) => w.status === "delivered");
    } finally {
      await first.stop();
    }
    // A crash between the job's terminal transition and the delivery insert leaves exactly this behind.
    const db = new Database(path.join(dir, "data", "orchestrator.db"));
    expect(db.prepare("DELETE FROM webhook_deliveries WHERE job_id = ?").run(id).changes).toBe(1);
    db.close();

    const second = await start(dir);
    try {
      const job = await waitForWebhook(second.url, id, (w) => w.status === "delivered");
      expect(job.webhook.attempts).toBe(1);
      const hits = receiver.received;
      expect(hits).toHaveLength(2);
      expect(hits[0]!.headers["x-orchestrator-delivery"]).not.toBe(
        hits[1]!.headers["x-orchestrator-delivery"],
      );
      expect(JSON.parse(hits[1]!.body)).toMatchObject({ job_id: id, status: "completed" });
    } finally {
      await second.stop();
    }
  });
});
