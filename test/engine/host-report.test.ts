// What a host reports and how we show and use it: a fully cached re-run (each job owns its copy of the
// replayed file), CPU hosts (no VRAM, whatever /system_stats says), and queue counts fresh from the socket.
import { afterEach, describe, expect, it } from "vitest";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { invertGraph, slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

/** EmptyImage → PreviewImage: no filename_prefix, so a repeat is cached node for node. */
const previewWorkflow = {
  graph: {
    "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0x123456 } },
    "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
  },
};

let sims: Simulator[] = [];
let orch: RunningOrchestrator | undefined;
afterEach(async () => {
  await orch?.stop();
  await Promise.all(sims.map((s) => s.close()));
  sims = [];
  orch = undefined;
});

async function setUp(hosts: Simulator[], overrides: Record<string, Record<string, unknown>> = {}) {
  sims = hosts;
  const dir = makeTestDir();
  writeWorkflow(dir, "preview", previewWorkflow);
  writeWorkflow(dir, "slow", slowWorkflow);
  writeWorkflow(dir, "big_gpu", { min_vram_gb: 1, graph: invertGraph() });
  writeWorkflow(dir, "invert", { graph: invertGraph() });
  orch = await startOrchestrator({
    dir,
    backends: hosts.map((s, i) => ({ id: `h${i}`, url: s.url })),
    overrides,
  });
  await untilHealthy(orch.url);
  return orch;
}

const backends = async (o: RunningOrchestrator) => (await api(o.url, "GET", "/api/backends")).body.backends;

describe("a fully cached re-run", () => {
  it("completes with its own copy of the file the host replays", async () => {
    const o = await setUp([await startSimulator({ stepMs: 1 })]);
    const first = await waitForJob(o.url, await submit(o.url, { workflow_id: "preview" }));
    const second = await waitForJob(o.url, await submit(o.url, { workflow_id: "preview" }));
    expect([first.status, second.status]).toEqual(["completed", "completed"]);
    const cached = sims[0]!.history[second.prompt_id]!.status.messages.find(
      (m) => m[0] === "execution_cached",
    );
    expect(cached?.[1].nodes).toEqual(["1", "2"]);
    // The host pointed both jobs at one temp file; each job holds its own copy.
    const hostFile = (j: { prompt_id: string }) => sims[0]!.history[j.prompt_id]!.outputs["2"];
    expect(hostFile(second)).toEqual(hostFile(first));
    expect([first.outputs.length, second.outputs.length]).toEqual([1, 1]);
    const bytes = async (url: string) => Buffer.from(await (await fetch(url)).arrayBuffer());
    const original = await bytes(first.outputs[0].url);
    expect(await bytes(second.outputs[0].url)).toEqual(original);
    expect((await api(o.url, "DELETE", `/api/job/${first.job_id}/outputs`)).status).toBe(200);
    const again = await fetch(second.outputs[0].url);
    expect(again.status).toBe(200);
    expect(Buffer.from(await again.arrayBuffer())).toEqual(original);
  });
});

describe("a CPU host", () => {
  it("shows as CPU, has no VRAM for min_vram_gb, and ranks below a GPU with little free VRAM", async () => {
    const cpu = await startSimulator({ cpu: true, stepMs: 1 });
    const gpu = await startSimulator({ vramTotalGb: 8, vramFreeGb: 0.25, stepMs: 1 });
    const o = await setUp([cpu, gpu]);
    const [c, g] = await backends(o);
    expect(c).toMatchObject({ device_type: "cpu", device_name: "cpu", vram_total: null, vram_free: null });
    expect(c.ram_total).toBeGreaterThan(0);
    expect(g).toMatchObject({ device_type: "cuda", vram_free: 0.25 * 1024 ** 3 });

    const placed = await waitForJob(o.url, await submit(o.url, { workflow_id: "invert" }));
    expect(placed.backend_id).toBe("h1");

    await api(o.url, "POST", "/api/backends/h1/disable");
    const r = await api(o.url, "POST", "/api/job", { workflow_id: "big_gpu" });
    // The GPU host (8 GB) could run it once enabled again; the CPU host never could.
    expect(r.status).toBe(202);
    await api(o.url, "POST", "/api/backends/h1/enable");
    expect((await waitForJob(o.url, r.body.job_id)).backend_id).toBe("h1");
  });

  it("refuses a min_vram_gb workflow when only CPU hosts are configured", async () => {
    const o = await setUp([await startSimulator({ cpu: true })]);
    const r = await api(o.url, "POST", "/api/job", { workflow_id: "big_gpu" });
    expectError(r, 422, "NO_CAPABLE_BACKEND");
    expect(r.body.error.details.backends.h0).toMatch(/CPU host/);
  });
});

describe("queue counts in /api/backends", () => {
  it("show the running prompt as soon as the host's socket says so, between polls", async () => {
    const o = await setUp([await startSimulator({ stepMs: 20 })], { scheduler: { poll_interval_s: 30 } });
    const id = await submit(o.url, { workflow_id: "slow", parameters: { steps: 100 } });
    await waitForJob(o.url, id, (j) => j.status === "running");
    const [b] = await backends(o);
    expect(b).toMatchObject({ inflight: 1, queue_running: 1, queue_pending: 0 });
    await api(o.url, "DELETE", `/api/job/${id}`);
    await eventually(async () => (await backends(o))[0].queue_running === 0, 10_000, "host idle");
  });
});
