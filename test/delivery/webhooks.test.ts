// Webhooks: a signed POST on every terminal state, retried on a failed answer, refused for hosts not allowed.
import { createHmac, timingSafeEqual } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import {
  type Receiver,
  SECRET,
  startDeliveryOrchestrator,
  startReceiver,
  waitForWebhook,
} from "./delivery-helpers.js";

let sim: Simulator;
let orch: RunningOrchestrator;
let receiver: Receiver;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 5 });
  receiver = await startReceiver();
  orch = await startDeliveryOrchestrator({ backends: [{ id: "sim-1", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await receiver?.close();
  await sim?.close();
});

/** What a receiver does: recompute the HMAC over the raw body and compare in constant time. */
function verify(body: string, header: string | string[] | undefined): boolean {
  const expected = Buffer.from(`sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`);
  const got = Buffer.from(String(header ?? ""));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

const deliveriesFor = (jobId: string) => receiver.received.filter((r) => JSON.parse(r.body).job_id === jobId);

describe("webhooks", () => {
  it("POSTs the finished job, signed with the shared secret, and shows the delivery on the job", async () => {
    const id = await submit(orch.url, {
      workflow_id: "invert_image",
      parameters: { width: 16, height: 16 },
      webhook_url: receiver.url,
      metadata: { shot: "a-1" },
    });
    const job = await waitForWebhook(orch.url, id, (w) => w.status === "delivered");
    expect(job.status).toBe("completed");
    expect(job.webhook).toMatchObject({
      url: receiver.url,
      status: "delivered",
      attempts: 1,
      last_status: 200,
      last_error: null,
    });
    expect(job.webhook.delivered_at).toBeTruthy();

    const [hit, ...more] = deliveriesFor(id);
    expect(more).toHaveLength(0);
    expect(hit!.headers["content-type"]).toBe("application/json");
    expect(hit!.headers["x-orchestrator-event"]).toBe("job.completed");
    expect(hit!.headers["x-orchestrator-delivery"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(verify(hit!.body, hit!.headers["x-orchestrator-signature"])).toBe(true);
    expect(verify(`${hit!.body} `, hit!.headers["x-orchestrator-signature"])).toBe(false);

    const payload = JSON.parse(hit!.body);
    expect(payload).toMatchObject({ job_id: id, status: "completed", metadata: { shot: "a-1" } });
    expect(payload.outputs).toHaveLength(1);
    // The payload's output links are absolute and work as they are.
    const file = await fetch(payload.outputs[0].url);
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("image/png");
  });

  it("notifies a cancelled job too", async () => {
    const id = await submit(orch.url, {
      workflow_id: "txt2img_basic",
      parameters: { prompt: "slow", steps: 150, width: 64, height: 64 },
      webhook_url: receiver.url,
    });
    expect((await api(orch.url, "DELETE", `/api/job/${id}`)).status).toBe(200);
    await waitForWebhook(orch.url, id, (w) => w.status === "delivered");
    const [hit] = deliveriesFor(id);
    expect(hit!.headers["x-orchestrator-event"]).toBe("job.cancelled");
    expect(JSON.parse(hit!.body)).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
  });

  it("retries after a 500 and a dropped connection, with the same delivery id and body", async () => {
    receiver.plan.push(500, "drop");
    const id = await submit(orch.url, {
      workflow_id: "invert_image",
      parameters: { width: 8, height: 8 },
      webhook_url: receiver.url,
    });
    const job = await waitForWebhook(orch.url, id, (w) => w.status === "delivered");
    expect(job.webhook).toMatchObject({
      status: "delivered",
      attempts: 3,
      last_status: 200,
      last_error: null,
    });

    const hits = deliveriesFor(id);
    expect(hits.map((h) => h.answer)).toEqual([500, "drop", 200]);
    expect(new Set(hits.map((h) => h.headers["x-orchestrator-delivery"])).size).toBe(1);
    expect(new Set(hits.map((h) => h.body)).size).toBe(1);
    for (const h of hits) expect(verify(h.body, h.headers["x-orchestrator-signature"])).toBe(true);
  });

  it("gives up after max_attempts and says why", async () => {
    const failing = await startDeliveryOrchestrator({
      backends: [{ id: "sim-1", url: sim.url }],
      webhooks: { max_attempts: 2 },
    });
    try {
      receiver.plan.push(503, 503);
      const id = await submit(failing.url, {
        workflow_id: "invert_image",
        parameters: { width: 8, height: 8 },
        webhook_url: receiver.url,
      });
      const job = await waitForWebhook(failing.url, id, (w) => w.status === "failed");
      expect(job.status).toBe("completed");
      expect(job.webhook).toMatchObject({
        status: "failed",
        attempts: 2,
        last_status: 503,
        delivered_at: null,
      });
      expect(job.webhook.last_error).toContain("503");
      expect(deliveriesFor(id)).toHaveLength(2);
    } finally {
      await failing.stop();
    }
  });

  it("refuses a webhook_url whose host is not allowed, naming the field", async () => {
    for (const url of ["http://example.com/hook", "http://localhost:9/hook", "http://10.0.0.1/hook"]) {
      const r = await api(orch.url, "POST", "/api/job", { workflow_id: "invert_image", webhook_url: url });
      expectError(r, 400, "VALIDATION_FAILED");
      expect(r.body.error.details.fields[0].field).toBe("webhook_url");
    }
    const notHttp = await api(orch.url, "POST", "/api/job", {
      workflow_id: "invert_image",
      webhook_url: "ftp://127.0.0.1/x",
    });
    expectError(notHttp, 400, "VALIDATION_FAILED");
    expect(notHttp.body.error.details.fields[0].field).toBe("webhook_url");
  });

  it("shows a pending webhook on a job that has not finished, and none on a job without one", async () => {
    const id = await submit(orch.url, {
      workflow_id: "txt2img_basic",
      parameters: { prompt: "slow", steps: 150, width: 64, height: 64 },
      webhook_url: receiver.url,
    });
    const r = await api(orch.url, "GET", `/api/job/${id}`);
    expect(r.body.webhook).toEqual({
      url: receiver.url,
      status: "pending",
      attempts: 0,
      last_status: null,
      last_error: null,
      delivered_at: null,
    });
    await api(orch.url, "DELETE", `/api/job/${id}`);

    const plain = await submit(orch.url, {
      workflow_id: "invert_image",
      parameters: { width: 8, height: 8 },
    });
    const job = await waitForJob(orch.url, plain);
    expect(job).not.toHaveProperty("webhook");
  });
});
