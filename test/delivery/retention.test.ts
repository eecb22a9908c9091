// Output retention: the periodic sweep deletes old jobs' files and marks them expired; a client may free a
// finished job's files early. Either way downloads then answer 410.
import { existsSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { startDeliveryOrchestrator } from "./delivery-helpers.js";

let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 5 });
});
afterAll(async () => {
  await sim?.close();
});

async function start(retention: Record<string, unknown>) {
  const orch = await startDeliveryOrchestrator({ backends: [{ id: "sim-1", url: sim.url }], retention });
  await untilHealthy(orch.url);
  return orch;
}

const outputsDir = (o: RunningOrchestrator, id: string) => path.join(o.dir, "data", "outputs", id);
const inputsDir = (o: RunningOrchestrator, id: string) => path.join(o.dir, "data", "inputs", id);

async function finishedJob(o: RunningOrchestrator) {
  const id = await submit(o.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } });
  const job = await waitForJob(o.url, id);
  expect(job.status).toBe("completed");
  expect(job.outputs).toHaveLength(1);
  return job;
}

describe("the retention sweep", () => {
  let orch: RunningOrchestrator;
  beforeAll(async () => {
    // About 1.7 s of retention, swept every 0.1 s.
    orch = await start({ output_retention_days: 0.00002, sweep_interval_s: 0.1 });
  });
  afterAll(async () => orch?.stop());

  it("deletes the files of jobs finished before the cutoff and marks them expired", async () => {
    const job = await finishedJob(orch);
    expect(existsSync(outputsDir(orch, job.job_id))).toBe(true);

    const expired = await eventually(
      async () => {
        const j = (await api(orch.url, "GET", `/api/job/${job.job_id}`)).body;
        return j.outputs_expired ? j : null;
      },
      10_000,
      "the sweep to expire the job",
    );
    expect(expired.outputs).toEqual([]);
    expect(expired.status).toBe("completed");
    // The row is marked before the files go, so the folder may outlive the mark by a moment.
    await eventually(() => !existsSync(outputsDir(orch, job.job_id)), 5_000, "the job's output folder to go");
    expectError(await api(orch.url, "GET", new URL(job.outputs[0].url).pathname), 410, "OUTPUTS_EXPIRED");
  });
});

describe("DELETE /api/job/:id/outputs", () => {
  let orch: RunningOrchestrator;
  beforeAll(async () => {
    orch = await start({ output_retention_days: 7 });
  });
  afterAll(async () => orch?.stop());

  it("frees a finished job's outputs and inputs at once; repeating it is harmless", async () => {
    const source = await finishedJob(orch);
    const png = Buffer.from(await (await fetch(source.outputs[0].url)).arrayBuffer()).toString("base64");
    const id = await submit(orch.url, {
      workflow_id: "scale_image",
      parameters: { image: png, width: 4, height: 4 },
    });
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    expect(existsSync(inputsDir(orch, id))).toBe(true);
    const download = new URL(job.outputs[0].url).pathname;
    expect((await api(orch.url, "GET", download)).status).toBe(200);

    const r = await api(orch.url, "DELETE", `/api/job/${job.job_id}/outputs`);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      job_id: job.job_id,
      status: "completed",
      outputs_expired: true,
      outputs: [],
    });
    expect(existsSync(outputsDir(orch, job.job_id))).toBe(false);
    expect(existsSync(inputsDir(orch, job.job_id))).toBe(false);
    expectError(await api(orch.url, "GET", download), 410, "OUTPUTS_EXPIRED");
    // The job it took its input from is untouched.
    expect((await api(orch.url, "GET", new URL(source.outputs[0].url).pathname)).status).toBe(200);

    expect((await api(orch.url, "DELETE", `/api/job/${job.job_id}/outputs`)).status).toBe(200);
  });

  it("refuses a job that has not finished (409) and an unknown job (404)", async () => {
    const id = await submit(orch.url, {
      workflow_id: "txt2img_basic",
      parameters: { prompt: "slow", steps: 150, width: 64, height: 64 },
    });
    try {
      const r = await api(orch.url, "DELETE", `/api/job/${id}/outputs`);
      expectError(r, 409, "JOB_NOT_FINISHED");
      expect(r.body.error.details.job_id).toBe(id);
    } finally {
      await api(orch.url, "DELETE", `/api/job/${id}`);
    }
    expectError(await api(orch.url, "DELETE", "/api/job/no-such-job/outputs"), 404, "JOB_NOT_FOUND");
  });

  it("keeps files within the retention period", async () => {
    const job = await finishedJob(orch);
    expect(await orch.app.retention.sweep()).toBe(0);
    expect((await api(orch.url, "GET", new URL(job.outputs[0].url).pathname)).status).toBe(200);
  });
});
