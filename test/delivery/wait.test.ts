// POST /api/job?wait=SECONDS: the finished job (200) when it ends in time, else its current state (202).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, untilHealthy } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;

beforeAll(async () => {
  // Slow steps: a 150-step txt2img takes seconds, an invert (no sampling) stays quick.
  sim = await startSimulator({ stepMs: 50 });
  orch = await startOrchestrator({
    backends: [{ id: "sim-1", url: sim.url }],
    overrides: { server: { max_wait_s: 30 } },
  });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

const slowJob = {
  workflow_id: "txt2img_basic",
  parameters: { prompt: "slow", steps: 150, width: 64, height: 64 },
};

describe("POST /api/job?wait", () => {
  it("answers 200 with the completed job and its outputs when it ends within the wait", async () => {
    const r = await api(orch.url, "POST", "/api/job?wait=20", {
      workflow_id: "invert_image",
      parameters: { width: 8, height: 8 },
    });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("completed");
    expect(r.body.outputs).toHaveLength(1);
    expect(r.body.attempts).toHaveLength(1);
    const file = await fetch(r.body.outputs[0].url);
    expect(file.status).toBe(200);
  });

  it("answers 202 with the job's current, unfinished state when the wait runs out", async () => {
    const r = await api(orch.url, "POST", "/api/job?wait=0.2", slowJob);
    try {
      expect(r.status).toBe(202);
      expect(["queued", "dispatching", "running"]).toContain(r.body.status);
      expect(r.body.outputs).toEqual([]);
      expect(r.body.message).toContain("after 0.2 s");
    } finally {
      await api(orch.url, "DELETE", `/api/job/${r.body.job_id}`);
    }
  });

  it("answers 200 with a cancelled job too: the wait ends with any terminal state", async () => {
    const headers = { "idempotency-key": "wait-then-cancel" };
    const waiting = api(orch.url, "POST", "/api/job?wait=20", slowJob, headers);
    // The same key without a wait answers at once with the job the waiting request created.
    const again = await eventually(
      async () => {
        const r = await api(orch.url, "POST", "/api/job", slowJob, headers);
        return r.body.created === false ? r : null;
      },
      10_000,
      "the waiting request's job",
    );
    expect((await api(orch.url, "DELETE", `/api/job/${again.body.job_id}`)).status).toBe(200);
    const r = await waiting;
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      job_id: again.body.job_id,
      status: "cancelled",
      error: { code: "CANCELLED" },
    });
  });

  it("rejects a wait that is not a number", async () => {
    const r = await api(orch.url, "POST", "/api/job?wait=soon", { workflow_id: "invert_image" });
    expect(r.status).toBe(400);
    expect(r.body.error.details.fields[0].field).toBe("query.wait");
  });
});
