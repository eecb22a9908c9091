// backends[].warmup: run once each time a host comes online, never a user job; failures shown on the host.
import { afterEach, describe, expect, it } from "vitest";
import { api, eventually, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { sampleValue, scrape } from "../helpers/prometheus.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator | undefined;
let orch: RunningOrchestrator | undefined;
afterEach(async () => {
  await orch?.stop();
  await sim?.close();
  orch = sim = undefined;
});

const warmup = { workflow_id: "invert_image", parameters: { width: 8, height: 8 } };
const hostView = async (o: RunningOrchestrator) => (await api(o.url, "GET", "/api/backends/s")).body;

describe("warm-up", () => {
  it("runs once when the host comes online, is no job, and runs again after the host was offline", async () => {
    sim = await startSimulator({ stepMs: 1 });
    orch = await startOrchestrator({ backends: [{ id: "s", url: sim.url, warmup }] });
    const o = orch;
    await eventually(async () => (await hostView(o)).warmup?.status === "completed", 10_000, "warm-up");
    expect((await hostView(o)).warmup).toMatchObject({ workflow_id: "invert_image", runs: 1, error: null });
    expect(sim.stats.promptsReceived).toBe(1);
    // Not a job: nothing listed, nothing counted, nothing done on the host's job counters.
    expect((await api(o.url, "GET", "/api/jobs")).body.jobs).toEqual([]);
    const samples = (await scrape(o.url)).samples;
    expect(sampleValue(samples, "orchestrator_jobs_submitted_total")).toBe(0);
    expect(
      sampleValue(samples, "orchestrator_backend_warmups_total", { backend: "s", result: "completed" }),
    ).toBe(1);
    expect((await hostView(o)).jobs_completed).toBe(0);

    const id = await submit(o.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } });
    expect((await waitForJob(o.url, id)).status).toBe("completed");
    expect(sim.stats.promptsReceived).toBe(2);
    await untilHealthy(o.url);
    expect((await hostView(o)).warmup.runs).toBe(1);

    await sim.crash();
    await eventually(async () => (await hostView(o)).status === "offline", 10_000, "offline");
    await sim.restart();
    await eventually(async () => (await hostView(o)).warmup?.runs === 2, 10_000, "a second warm-up");
    await eventually(async () => (await hostView(o)).warmup?.status === "completed", 10_000, "completed");
  }, 40_000);

  it("a failing warm-up is logged and shown on the host, which then takes work anyway", async () => {
    sim = await startSimulator({ stepMs: 1 });
    sim.setFault({ kind: "execution_error", class_type: "ImageInvert", message: "cold GPU", count: 1 });
    orch = await startOrchestrator({ backends: [{ id: "s", url: sim.url, warmup }] });
    const o = orch;
    await eventually(async () => (await hostView(o)).warmup?.status === "failed", 10_000, "failed warm-up");
    expect((await hostView(o)).warmup.error).toContain("cold GPU");
    const id = await submit(o.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } });
    expect((await waitForJob(o.url, id)).status).toBe("completed");
  });

  it("an unknown warm-up workflow fails with its reason instead of blocking the host", async () => {
    sim = await startSimulator({ stepMs: 1 });
    orch = await startOrchestrator({
      backends: [{ id: "s", url: sim.url, warmup: { workflow_id: "nope" } }],
    });
    const o = orch;
    await eventually(async () => (await hostView(o)).warmup?.status === "failed", 10_000, "failed warm-up");
    expect((await hostView(o)).warmup.error).toContain("nope");
    expect(sim.stats.promptsReceived).toBe(0);
  });
});
