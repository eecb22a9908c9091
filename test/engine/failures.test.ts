// What happens when things break: a host forgetting its history, cancellation in every state, timeouts,
// idempotent submits, and out-of-memory retries on a bigger host.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;
const slow = (steps: number, extra: Record<string, unknown> = {}) => ({
  workflow_id: "slow",
  parameters: { steps },
  ...extra,
});
const ourPrompts = () => {
  const q = sim.getQueue();
  return [...q.running, ...q.pending].filter((i) => JSON.stringify(i[3]).includes("orchestrator"));
};

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 10 });
  const dir = makeTestDir();
  writeWorkflow(dir, "slow", slowWorkflow);
  orch = await startOrchestrator({ dir, backends: [{ id: "s", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

describe("a host that restarts and forgets its history", () => {
  it("reruns the job once", async () => {
    sim.setFault({ kind: "crash_mid_prompt", restart_after_ms: 50 });
    const id = await submit(orch.url, slow(5));
    const job = await waitForJob(orch.url, id, undefined, 20_000);
    expect(job.status).toBe("completed");
    expect(job.attempt).toBe(2);
    expect(job.attempts[0].error.code).toMatch(/BACKEND_LOST/);
    expect(job.outputs).toHaveLength(1);
  });
});

describe("cancellation", () => {
  it("a queued job is cancelled at once; repeating is harmless; a finished job answers 409", async () => {
    await api(orch.url, "POST", "/api/backends/s/disable");
    try {
      const id = await submit(orch.url, slow(1));
      const r = await api(orch.url, "DELETE", `/api/job/${id}`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ status: "cancelled", error: { code: "CANCELLED" } });
      const again = await api(orch.url, "POST", `/api/job/${id}/cancel`);
      expect(again.status).toBe(200);
      expect(again.body.status).toBe("cancelled");
    } finally {
      await api(orch.url, "POST", "/api/backends/s/enable");
    }
    const done = await submit(orch.url, slow(1));
    await waitForJob(orch.url, done);
    expectError(await api(orch.url, "DELETE", `/api/job/${done}`), 409, "JOB_FINISHED");
    expectError(await api(orch.url, "DELETE", "/api/job/nope"), 404, "JOB_NOT_FOUND");
  });

  it("a job waiting in the host's queue is removed from it", async () => {
    const blocker = await submit(orch.url, slow(60));
    const waiting = await submit(orch.url, slow(1));
    const w = await waitForJob(
      orch.url,
      waiting,
      (j) => j.status === "dispatching" && ourPrompts().some((i) => i[1] === j.prompt_id),
    );
    const r = await api(orch.url, "DELETE", `/api/job/${waiting}`);
    expect(r.body.status).toBe("cancelled");
    await eventually(
      () => !ourPrompts().some((i) => i[1] === w.prompt_id),
      5000,
      "prompt removed from the host queue",
    );
    await api(orch.url, "DELETE", `/api/job/${blocker}`);
  });

  it("a running job is interrupted on its host and ends cancelled", async () => {
    const before = sim.stats.interrupts;
    const id = await submit(orch.url, slow(200));
    const running = await waitForJob(orch.url, id, (j) => j.status === "running");
    expect((await api(orch.url, "DELETE", `/api/job/${id}`)).body.status).toBe("cancelled");
    await eventually(() => sim.stats.interrupts > before, 5000, "an interrupt");
    await eventually(
      () =>
        (sim.history[running.prompt_id] as { status?: { status_str?: string } } | undefined)?.status
          ?.status_str === "error",
      5000,
      "interrupted in history",
    );
    expect((await api(orch.url, "GET", `/api/job/${id}`)).body.status).toBe("cancelled");
  });
});

describe("timeouts", () => {
  it("a job past its timeout is interrupted on the host and fails TIMEOUT", async () => {
    const before = sim.stats.interrupts;
    const id = await submit(orch.url, slow(500, { timeout_s: 0.5 }));
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("failed");
    expect(job.error.code).toBe("TIMEOUT");
    await eventually(() => sim.stats.interrupts > before, 5000, "an interrupt");
  });
});

describe("idempotency", () => {
  it("a repeated Idempotency-Key (header or manifest) returns the same job", async () => {
    const first = await api(orch.url, "POST", "/api/job", slow(1), { "idempotency-key": "shot-42" });
    expect(first.status).toBe(202);
    const second = await api(orch.url, "POST", "/api/job", slow(1), { "idempotency-key": "shot-42" });
    expect(second.status).toBe(200);
    expect(second.body.job_id).toBe(first.body.job_id);
    expect(second.body.created).toBe(false);
    const viaBody = await api(orch.url, "POST", "/api/job", slow(1, { idempotency_key: "shot-42" }));
    expect(viaBody.body.job_id).toBe(first.body.job_id);
    const other = await api(orch.url, "POST", "/api/job", slow(1), { "idempotency-key": "shot-43" });
    expect(other.body.job_id).not.toBe(first.body.job_id);
  });
});

describe("out of memory", () => {
  it("retries on a host with more free VRAM, while a plain execution error fails at once", async () => {
    const small = await startSimulator({ stepMs: 2, vramTotalGb: 8, vramFreeGb: 6 });
    const big = await startSimulator({ stepMs: 2, vramTotalGb: 48, vramFreeGb: 40 });
    const dir = makeTestDir();
    writeWorkflow(dir, "slow", slowWorkflow);
    const two = await startOrchestrator({
      dir,
      backends: [
        { id: "small", url: small.url },
        { id: "big", url: big.url, enabled: false },
      ],
    });
    try {
      await eventually(
        async () => (await api(two.url, "GET", "/api/backends")).body.backends[0].status === "online",
        10_000,
        "online",
      );
      small.setFault({ kind: "oom" });
      const id = await submit(two.url, slow(2));
      const afterOom = await waitForJob(
        two.url,
        id,
        (j) => j.attempt === 1 && (j.status === "retrying" || j.status === "queued"),
      );
      expect(afterOom.attempts[0].error.code).toBe("OUT_OF_MEMORY");
      await api(two.url, "POST", "/api/backends/big/enable");
      const job = await waitForJob(two.url, id);
      expect(job).toMatchObject({ status: "completed", backend_id: "big", attempt: 2 });

      small.clearFaults();
      await api(two.url, "POST", "/api/backends/big/disable");
      small.setFault({ kind: "execution_error", class_type: "KSampler", message: "boom" });
      const plain = await waitForJob(two.url, await submit(two.url, slow(2)));
      expect(plain).toMatchObject({ status: "failed", attempt: 1, error: { code: "EXECUTION_ERROR" } });
    } finally {
      await two.stop();
      await small.close();
      await big.close();
    }
  });
});

describe("giving up", () => {
  it("a job no host takes in time fails QUEUE_TIMEOUT", async () => {
    const idle = await startOrchestrator({
      backends: [{ id: "off", url: sim.url, enabled: false }],
      overrides: { scheduler: { queue_timeout_s: 0.3 } },
    });
    try {
      const job = await waitForJob(idle.url, await submit(idle.url, { workflow_id: "invert_image" }));
      expect(job).toMatchObject({ status: "failed", attempt: 0, error: { code: "QUEUE_TIMEOUT" } });
    } finally {
      await idle.stop();
    }
  });

  it("after max_attempts host failures the job fails with every attempt's error", async () => {
    sim.setFault({ kind: "http_error", route: "/prompt", status: 500 });
    try {
      const job = await waitForJob(orch.url, await submit(orch.url, slow(1)));
      expect(job).toMatchObject({ status: "failed", attempt: 3, error: { code: "ATTEMPTS_EXHAUSTED" } });
      expect(job.error.details.attempts).toHaveLength(3);
      for (const a of job.attempts) expect(a.error.code).toBe("BACKEND_UNAVAILABLE");
    } finally {
      sim.clearFaults();
    }
  });
});
