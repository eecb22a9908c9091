// A cancelled job whose host is mid-node: ComfyUI honours /interrupt only at a node start or a progress step,
// so the host stays busy until the prompt ends. Its slot stays taken (and shows in /api/backends) until
// then, the next job goes to an idle host, and a host that overruns the bounded wait is degraded meanwhile.
import { afterEach, describe, expect, it } from "vitest";
import { api, eventually, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

/** EmptyImage → ImageBlur (no progress steps) → ImageInvert → SaveImage. */
const blurWorkflow = {
  parameters: { color: { type: "integer", targets: ["1.color"], default: 0 } },
  graph: {
    "1": { class_type: "EmptyImage", inputs: { width: 32, height: 32, batch_size: 1, color: 0 } },
    "2": { class_type: "ImageBlur", inputs: { image: ["1", 0], blur_radius: 2, sigma: 1 } },
    "3": { class_type: "ImageInvert", inputs: { image: ["2", 0] } },
    "4": { class_type: "SaveImage", inputs: { images: ["3", 0], filename_prefix: "blur" } },
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

async function setUp(n: number, jobs: Record<string, unknown> = {}) {
  sims = await Promise.all(Array.from({ length: n }, () => startSimulator({ stepMs: 2 })));
  const dir = makeTestDir();
  writeWorkflow(dir, "blur", blurWorkflow);
  orch = await startOrchestrator({
    dir,
    // "a" is preferred whenever both are idle.
    backends: sims.map((s, i) => ({ id: "ab"[i]!, url: s.url, max_inflight: 1, weight: i === 0 ? 2 : 1 })),
    overrides: { jobs },
  });
  await untilHealthy(orch.url);
  return orch;
}

const backend = async (o: RunningOrchestrator, id: string) =>
  (await api(o.url, "GET", "/api/backends")).body.backends.find((b: { id: string }) => b.id === id);

/** Starts a job whose blur will run `ms` on host a, and cancels it once the host is inside the blur. */
async function cancelMidNode(o: RunningOrchestrator, ms: number) {
  sims[0]!.setFault({ kind: "slow_node", class_type: "ImageBlur", delay_ms: ms, count: 1 });
  const id = await submit(o.url, { workflow_id: "blur", parameters: { color: 1 } });
  const job = await waitForJob(o.url, id, (j) => j.status === "running" && j.progress?.node_id === "2");
  expect(job.backend_id).toBe("a");
  const r = await api(o.url, "DELETE", `/api/job/${id}`);
  expect(r.body.status).toBe("cancelled");
  return job.prompt_id as string;
}

describe("cancel while the host is mid-node", () => {
  it("keeps the slot until the host reports the end; the next job goes to the idle host", async () => {
    const o = await setUp(2);
    const prompt = await cancelMidNode(o, 1500);
    // The interrupt goes out just after the cancel answers; from then on the host shows what holds it.
    await eventually(() => sims[0]!.stats.interrupts > 0, 5000, "the interrupt");
    const a = await eventually(async () => {
      const b = await backend(o, "a");
      return b.interrupting.length > 0 && b;
    });
    expect(a.interrupting).toEqual([expect.objectContaining({ prompt_id: prompt, overdue: false })]);
    expect(a.inflight).toBe(0);
    const next = await submit(o.url, { workflow_id: "blur", parameters: { color: 2 } });
    const done = await waitForJob(o.url, next);
    expect(done.status).toBe("completed");
    expect(done.backend_id).toBe("b");

    // The host ran the blur to its end, then stopped at the next node; only then is its slot free.
    await eventually(async () => (await backend(o, "a")).interrupting.length === 0, 10_000, "slot freed");
    const entry = sims[0]!.history[prompt];
    expect(entry?.status.messages.map((m) => m[0])).toContain("execution_interrupted");
    expect(entry?.status.messages.find((m) => m[0] === "execution_interrupted")?.[1]).toMatchObject({
      node_id: "3",
    });
  });

  it("treats a host whose interrupted prompt overruns the wait as unhealthy until it ends", async () => {
    const o = await setUp(1, { interrupt_wait_s: 0.2 });
    const prompt = await cancelMidNode(o, 2500);
    await eventually(
      async () => {
        const a = await backend(o, "a");
        return a.state === "degraded" && /interrupted prompt/.test(a.reason) && a.interrupting[0]?.overdue;
      },
      10_000,
      "host degraded",
    );
    const next = await submit(o.url, { workflow_id: "blur", parameters: { color: 3 } });
    const dispatched = await waitForJob(o.url, next, (j) => j.status !== "queued", 15_000);
    // Sent only once the interrupted prompt had ended on the host, never to wait behind it.
    expect(sims[0]!.history[prompt]).toBeDefined();
    expect(dispatched.backend_id).toBe("a");
    expect((await waitForJob(o.url, next)).status).toBe("completed");
    expect((await backend(o, "a")).state).toBe("online");
  });

  it("holds the slot of a timed-out prompt the same way", async () => {
    const o = await setUp(1);
    sims[0]!.setFault({ kind: "slow_node", class_type: "ImageBlur", delay_ms: 1500, count: 1 });
    const id = await submit(o.url, { workflow_id: "blur", parameters: { color: 4 }, timeout_s: 0.3 });
    const failed = await waitForJob(o.url, id);
    expect(failed.error.code).toBe("TIMEOUT");
    const a = await eventually(async () => {
      const b = await backend(o, "a");
      return b.interrupting.length > 0 && b;
    });
    expect(a.interrupting[0].prompt_id).toBe(failed.prompt_id);
    const next = await submit(o.url, { workflow_id: "blur", parameters: { color: 5 } });
    await waitForJob(o.url, next, (j) => j.status !== "queued", 15_000);
    expect(sims[0]!.history[failed.prompt_id]).toBeDefined();
    expect((await waitForJob(o.url, next)).status).toBe("completed");
  });
});
