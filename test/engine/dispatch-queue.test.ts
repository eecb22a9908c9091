// Head-of-line blocking: jobs no host can take right now must not hold back a job an idle host can run,
// however many of them wait; once their host comes back they run, in priority then FIFO order.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { invertGraph, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let a: Simulator;
let b: Simulator;
let orch: RunningOrchestrator;
const STUCK = 200; // well over the 128 jobs the old dispatcher looked at

beforeAll(async () => {
  [a, b] = await Promise.all([startSimulator({ stepMs: 1 }), startSimulator({ stepMs: 1 })]);
  const dir = makeTestDir();
  writeWorkflow(dir, "flux_only", { requires: ["flux"], graph: invertGraph() });
  writeWorkflow(dir, "anywhere", { graph: invertGraph() });
  orch = await startOrchestrator({
    dir,
    backends: [
      { id: "a", url: a.url, capabilities: ["sdxl"] },
      { id: "b", url: b.url, capabilities: ["flux"] },
    ],
  });
  await untilHealthy(orch.url);
  await b.close(); // the only host that can run flux_only goes away
  await eventually(
    async () =>
      (await api(orch.url, "GET", "/api/backends")).body.backends?.find((x: any) => x.id === "b")?.status ===
      "offline",
    10_000,
    "host b offline",
  );
}, 30_000);
afterAll(async () => {
  await orch?.stop();
  await Promise.all([a, b].map((s) => s?.close()));
});

describe("dispatch without head-of-line blocking", () => {
  it("a job an idle host can run starts while many jobs wait for an offline host", async () => {
    const stuck: string[] = [];
    for (let i = 0; i < STUCK; i++)
      stuck.push(await submit(orch.url, { workflow_id: "flux_only", priority: 5 }));
    const free = await submit(orch.url, { workflow_id: "anywhere" });
    const done = await waitForJob(orch.url, free);
    expect(done.status).toBe("completed");
    expect(done.backend_id).toBe("a");
    expect((await api(orch.url, "GET", `/api/job/${stuck[0]}`)).body.status).toBe("queued");

    // Their host returns: every waiting job runs there, highest priority first.
    const late = await submit(orch.url, { workflow_id: "flux_only", priority: 9 });
    await b.restart();
    const first = await waitForJob(orch.url, late);
    expect(first.backend_id).toBe("b");
    const last = await waitForJob(orch.url, stuck[STUCK - 1]!, undefined, 60_000);
    expect(last.status).toBe("completed");
    expect(Date.parse(first.started_at)).toBeLessThanOrEqual(Date.parse(last.started_at));
  }, 120_000);
});
