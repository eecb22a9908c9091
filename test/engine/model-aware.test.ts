// Model- and speed-aware scheduling (policy expected_completion) on simulated hosts with a model load cost:
// warm models steer jobs, a queued job says why it waits, a slow host gets less long work, aging lets a cold
// job through, learned speed survives a restart, and least_queue still dispatches.
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { txt2imgGraph } from "../sim/graphs.js";
import { queuePrompt } from "../sim/sim-client.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

const A = "sd_xl_base_1.0.safetensors";
const B = "v1-5-pruned-emaonly.safetensors";

const job = (checkpoint: string, steps = 2, priority?: number) => ({
  workflow_id: "txt2img_basic",
  parameters: { prompt: "a lighthouse", checkpoint, steps, width: 64, height: 64 },
  ...(priority === undefined ? {} : { priority }),
});

/** Runs one prompt straight on the host, as another client would: the host keeps its model warm. */
async function warmUp(sim: Simulator, ckpt: string) {
  const { prompt_id } = await queuePrompt(sim.url, txt2imgGraph({ ckpt, steps: 1 }), "another-client");
  await eventually(() => sim.history[prompt_id]?.status.completed, 5000, "the warm-up prompt");
}

const backends = async (url: string) => (await api(url, "GET", "/api/backends")).body.backends as any[];
const backendOf = async (url: string, id: string) => (await waitForJob(url, id)).backend_id as string;

describe("two hosts with different warm models", () => {
  let h1: Simulator;
  let h2: Simulator;
  let orch: RunningOrchestrator;
  beforeAll(async () => {
    [h1, h2] = await Promise.all([
      startSimulator({ stepMs: 15, nodeMs: 0, loadMs: 150 }),
      startSimulator({ stepMs: 15, nodeMs: 0, loadMs: 150 }),
    ]);
    await warmUp(h1, A);
    await warmUp(h2, B);
    orch = await startOrchestrator({
      // One prompt per host at a time: a job waiting for a host waits in our queue, where it can be seen.
      backends: [
        { id: "h1", url: h1.url, max_inflight: 1 },
        { id: "h2", url: h2.url, max_inflight: 1 },
      ],
      // No load is measured here (every job finds its model warm): the assumed cost decides, and it must
      // outweigh what a very busy test machine makes of the running job's estimate.
      overrides: { scheduler: { model_load_estimate_s: 600 } },
    });
    await untilHealthy(orch.url);
  });
  afterAll(async () => {
    await orch?.stop();
    await Promise.all([h1?.close(), h2?.close()]);
  });

  it("reads each host's warm model from what ran there and shows it in /api/backends", async () => {
    await eventually(
      async () => {
        const [b1, b2] = await backends(orch.url);
        return b1.warm_models.includes(A) && b2.warm_models.includes(B);
      },
      5000,
      "warm models seen",
    );
    const [b1] = await backends(orch.url);
    expect(b1.model_slots).toBe(1);
    expect(b1.warm_models).not.toContain(B);
  });

  it("sends jobs for A to the host with A warm and jobs for B to the one with B", async () => {
    const ids: [string, string][] = [];
    // B first: a dispatcher blind to models would give the first job to the first host.
    for (let i = 0; i < 4; i++) {
      ids.push([B, await submit(orch.url, job(B))]);
      ids.push([A, await submit(orch.url, job(A))]);
    }
    for (const [ckpt, id] of ids) expect(await backendOf(orch.url, id)).toBe(ckpt === A ? "h1" : "h2");
    expect(h1.stats.modelLoads + h2.stats.modelLoads).toBe(2); // only the two warm-ups loaded anything
  });

  it("leaves a job queued for the busy warm host and says why", async () => {
    const long = await submit(orch.url, job(A, 150));
    await waitForJob(orch.url, long, (j) => j.status === "running");
    const next = await submit(orch.url, job(A));
    const queued = await api(orch.url, "GET", `/api/job/${next}`);
    expect(queued.body.status, JSON.stringify(queued.body).slice(0, 900)).toBe("queued");
    expect(queued.body.scheduling.backend_id).toBe("h1");
    expect(queued.body.scheduling.reason).toMatch(
      /^waiting for h1, which has sd_xl_base_1\.0 warm: expected/,
    );
    expect(queued.body.scheduling.reason).toContain("on h2 with a model load");
    expect(queued.body.scheduling.estimates.map((e: any) => e.backend_id).sort()).toEqual(["h1", "h2"]);
    expect(await backendOf(orch.url, next)).toBe("h1");
    // A finished job carries no reason.
    expect((await api(orch.url, "GET", `/api/job/${next}`)).body.scheduling).toBeUndefined();
  });
});

describe("learned host speed", () => {
  let fast: Simulator;
  let slow: Simulator;
  const dir = makeTestDir();
  const config = () => ({
    dir,
    backends: [
      { id: "fast", url: fast.url },
      { id: "slow", url: slow.url },
    ],
  });
  beforeAll(async () => {
    [fast, slow] = await Promise.all([
      // Steps long enough that timer overshoot on a busy machine does not hide the 8× difference.
      startSimulator({ stepMs: 20, nodeMs: 0 }),
      startSimulator({ stepMs: 20, nodeMs: 0, speed: 0.125 }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([fast?.close(), slow?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const speedOf = (b: any) => b.speed.find((s: any) => s.workflow_id === "txt2img_basic");

  it("measures that a host is slower, gives it less of the long work, and keeps that across a restart", {
    timeout: 90_000,
  }, async () => {
    let orch = await startOrchestrator(config());
    try {
      await untilHealthy(orch.url);
      // Both hosts start unmeasured and alike: a few concurrent jobs reach both.
      await eventually(
        async () => {
          const ids = await Promise.all([1, 2, 3, 4].map(() => submit(orch.url, job(A, 8))));
          await Promise.all(ids.map((id) => waitForJob(orch.url, id)));
          const all = await backends(orch.url);
          return all.every((b) => speedOf(b)?.run_samples > 0);
        },
        20_000,
        "both hosts measured",
      );
      const [f, s] = await backends(orch.url);
      // 8× nominally; per-job overheads of a busy machine narrow it, never reverse it.
      expect(speedOf(s).run_ms_per_unit).toBeGreaterThan(speedOf(f).run_ms_per_unit);
      // With both idle, long jobs go where they finish first.
      for (let i = 0; i < 3; i++) {
        expect(await backendOf(orch.url, await submit(orch.url, job(A, 16)))).toBe("fast");
      }
    } finally {
      await orch.stop();
    }
    const before = (await startOrchestrator(config()).then(async (o) => {
      orch = o;
      return backends(o.url);
    })) as any[];
    try {
      const [f, s] = before;
      expect(speedOf(f).run_samples).toBeGreaterThan(0);
      expect(speedOf(s).run_ms_per_unit).toBeGreaterThan(speedOf(f).run_ms_per_unit);
      await untilHealthy(orch.url);
      expect(await backendOf(orch.url, await submit(orch.url, job(A, 16)))).toBe("fast");
    } finally {
      await orch.stop();
    }
  });
});

describe("aging", () => {
  it("runs warm jobs first, but lets a cold job through once it has waited the aging bound", {
    timeout: 90_000,
  }, async () => {
    const sim = await startSimulator({ stepMs: 5, nodeMs: 0, loadMs: 30 });
    const orch = await startOrchestrator({
      backends: [{ id: "only", url: sim.url, max_inflight: 1 }],
      overrides: { scheduler: { aging_s: 1 } },
    });
    try {
      await untilHealthy(orch.url);
      const blocker = await submit(orch.url, job(A, 20));
      await waitForJob(orch.url, blocker, (j) => j.status === "running");
      const cold = await submit(orch.url, job(B, 2));
      const warm: string[] = [];
      for (let i = 0; i < 16; i++) warm.push(await submit(orch.url, job(A, 12)));
      const startOf = async (id: string) => (await waitForJob(orch.url, id, undefined, 80_000)).started_at;
      const coldStart = await startOf(cold);
      const warmStarts = await Promise.all(warm.map(startOf));
      // Jobs queued after it but warm went first; once aged, it went before the rest of them.
      expect(warmStarts.filter((t) => t < coldStart).length).toBeGreaterThan(0);
      expect(warmStarts.filter((t) => t > coldStart).length).toBeGreaterThan(0);
    } finally {
      await orch.stop();
      await sim.close();
    }
  });

  it("never lets a warm job pass one of higher priority", async () => {
    const sim = await startSimulator({ stepMs: 5, nodeMs: 0, loadMs: 30 });
    const orch = await startOrchestrator({ backends: [{ id: "only", url: sim.url, max_inflight: 1 }] });
    try {
      await untilHealthy(orch.url);
      const blocker = await submit(orch.url, job(A, 20));
      await waitForJob(orch.url, blocker, (j) => j.status === "running");
      const warmLow = await submit(orch.url, job(A, 2));
      const coldHigh = await submit(orch.url, job(B, 2, 5));
      const [low, high] = await Promise.all([warmLow, coldHigh].map((id) => waitForJob(orch.url, id)));
      expect(high.started_at < low.started_at).toBe(true);
    } finally {
      await orch.stop();
      await sim.close();
    }
  });
});

describe("policy least_queue", () => {
  it("still dispatches by fewest prompts ahead and says so for a queued job", async () => {
    const [h1, h2] = await Promise.all([
      startSimulator({ stepMs: 5, nodeMs: 0 }),
      startSimulator({ stepMs: 5, nodeMs: 0 }),
    ]);
    const orch = await startOrchestrator({
      backends: [
        { id: "h1", url: h1.url, max_inflight: 1 },
        { id: "h2", url: h2.url, max_inflight: 1 },
      ],
      overrides: { scheduler: { policy: "least_queue" } },
    });
    try {
      await untilHealthy(orch.url);
      h1.addForeignPrompts(2, 40);
      await eventually(
        async () => (await backends(orch.url)).find((b) => b.id === "h1").foreign_queued >= 1,
        5000,
        "foreign queue seen",
      );
      const ids = await Promise.all([1, 2, 3].map(() => submit(orch.url, job(A, 30))));
      const queued = await api(orch.url, "GET", `/api/job/${ids[2]}`);
      if (queued.body.status === "queued") expect(queued.body.scheduling.reason).toContain("least_queue");
      const done = await Promise.all(ids.map((id) => waitForJob(orch.url, id)));
      expect(done.every((j) => j.status === "completed")).toBe(true);
      expect(done[0].backend_id).toBe("h2");
    } finally {
      await orch.stop();
      await Promise.all([h1.close(), h2.close()]);
    }
  });
});
