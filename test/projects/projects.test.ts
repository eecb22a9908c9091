// Projects end to end on one simulated host: chains, fan-out with map, failure and skip, cancel, validation.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { download, pngSize, scale, txt2img, writeAudioWorkflow } from "./project-helpers.js";

let sim: Simulator;
let orch: RunningOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  const dir = makeTestDir();
  writeAudioWorkflow(dir);
  writeWorkflow(dir, "slow", slowWorkflow);
  orch = await startOrchestrator({ dir, backends: [{ id: "sim-1", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

const project = (nodes: unknown[], extra: Record<string, unknown> = {}) => ({ project: { nodes }, ...extra });

describe("a project", () => {
  it("runs a 3-node chain as one job, each stage taking the last one's image", async () => {
    const r = await api(
      orch.url,
      "POST",
      "/api/job",
      project([txt2img("shot"), scale("up", "shot", 96, 80), scale("down", "up", 40, 24)], {
        metadata: { storyboard: "ep3" },
      }),
    );
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ status: "queued", created: true });
    const job = await waitForJob(orch.url, r.body.job_id);
    expect(job.status).toBe("completed");
    expect(job.metadata).toEqual({ storyboard: "ep3" });
    expect(job.progress.percent).toBe(100);
    expect(job.nodes.map((n: any) => [n.id, n.status])).toEqual([
      ["shot", "completed"],
      ["up", "completed"],
      ["down", "completed"],
    ]);
    for (const n of job.nodes) expect(n.attempts).toBeGreaterThanOrEqual(1);
    expect(job.outputs.map((o: any) => o.project_node)).toEqual(["shot", "up", "down"]);
    const last = job.nodes[2].outputs[0];
    expect(pngSize(await download(last.url))).toEqual({ width: 40, height: 24 });
    expect(pngSize(await download(job.outputs[1].url))).toEqual({ width: 96, height: 80 });
    // A project's runs are not jobs of their own in the list.
    const list = await api(orch.url, "GET", "/api/jobs?limit=200");
    expect(list.body.jobs.filter((j: any) => j.job_id === job.job_id)).toHaveLength(1);
    expect(list.body.jobs.some((j: any) => j.workflow_id === "scale_image" && j.metadata === null)).toBe(
      false,
    );
  });

  it("fans a node out with count and maps its dependents over the variants", async () => {
    const id = await submit(orch.url, project([txt2img("shot", { count: 3 }), scale("up", "shot", 32, 32)]));
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    expect(job.nodes.map((n: any) => `${n.id}#${n.variant}`)).toEqual([
      "shot#0",
      "shot#1",
      "shot#2",
      "up#0",
      "up#1",
      "up#2",
    ]);
    expect(job.outputs).toHaveLength(6);
    expect(job.outputs.filter((o: any) => o.project_node === "up").map((o: any) => o.variant)).toEqual([
      0, 1, 2,
    ]);
    // Each variant has its own seed, so its own picture.
    const shots = job.outputs.filter((o: any) => o.project_node === "shot");
    expect(new Set(shots.map((o: any) => o.sha256)).size).toBe(3);
  });

  it("gives a set seed's variants seed, seed+1, …", async () => {
    const id = await submit(
      orch.url,
      project([
        txt2img("shot", { count: 2, parameters: { prompt: "p", steps: 1, width: 64, height: 64, seed: 7 } }),
      ]),
    );
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    // Output files are named after the run that made them (filename_prefix carries its id).
    const seeds = job.nodes.map((n: any) => {
      const runId = n.outputs[0].filename.split("_")[1];
      const entry = Object.values(sim.history).find((h: any) => JSON.stringify(h.prompt[2]).includes(runId));
      return (entry as any).prompt[2]["3"].inputs.seed;
    });
    expect(seeds.sort()).toEqual([7, 8]);
  });

  it("fails a node's dependents as skipped while an independent branch completes", async () => {
    sim.setFault({ kind: "execution_error", class_type: "ImageScale", message: "scale broke" });
    try {
      const id = await submit(
        orch.url,
        project([
          txt2img("shot"),
          scale("up", "shot", 32, 32),
          scale("up2", "up", 16, 16),
          { id: "other", workflow_id: "invert_image", parameters: { width: 16, height: 16 } },
        ]),
      );
      const job = await waitForJob(orch.url, id);
      expect(job.status).toBe("failed");
      const by = Object.fromEntries(job.nodes.map((n: any) => [n.id, n]));
      expect(by.shot.status).toBe("completed");
      expect(by.other.status).toBe("completed");
      expect(by.up.status).toBe("failed");
      expect(by.up.error.code).toBe("EXECUTION_ERROR");
      expect(by.up2.status).toBe("skipped");
      expect(by.up2.error).toMatchObject({ code: "UPSTREAM_FAILED", details: { node: "up" } });
      expect(job.error.code).toBe("NODE_FAILED");
      // What did complete is still downloadable.
      const done = job.outputs.filter((o: any) => o.project_node === "shot" || o.project_node === "other");
      expect(done).toHaveLength(2);
      for (const o of done) expect((await fetch(o.url)).status).toBe(200);
    } finally {
      sim.clearFaults();
    }
  });

  it("cancels a running project: its running node stops on the host, the rest are skipped", async () => {
    const id = await submit(
      orch.url,
      project([
        { id: "long", workflow_id: "slow", parameters: { steps: 5000 } },
        scale("after", "long", 8, 8),
      ]),
    );
    await waitForJob(orch.url, id, (j) => j.nodes[0].status === "running");
    const r = await api(orch.url, "DELETE", `/api/job/${id}`);
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("cancelled");
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("cancelled");
    expect(job.nodes.map((n: any) => n.status)).toEqual(["cancelled", "skipped"]);
    await eventually(async () => {
      const q: any = await (await fetch(`${sim.url}/queue`)).json();
      return q.queue_running.length === 0 && q.queue_pending.length === 0;
    });
    const again = await api(orch.url, "DELETE", `/api/job/${id}`);
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("cancelled");
  });

  it("frees a finished project's files from every node's folder", async () => {
    const id = await submit(orch.url, project([txt2img("a"), scale("b", "a", 8, 8)]));
    const job = await waitForJob(orch.url, id);
    const urls = job.outputs.map((o: any) => o.url);
    expect(urls).toHaveLength(2);
    const r = await api(orch.url, "DELETE", `/api/job/${id}/outputs`);
    expect(r.status).toBe(200);
    expect(r.body.outputs_expired).toBe(true);
    for (const u of urls) expect((await fetch(u)).status).toBe(410);
  });

  it("returns the same project for a repeated idempotency key", async () => {
    const body = project([txt2img("a"), scale("b", "a", 8, 8)]);
    const headers = { "idempotency-key": `proj-${Date.now()}` };
    const a = await api(orch.url, "POST", "/api/job", body, headers);
    const b = await api(orch.url, "POST", "/api/job", body, headers);
    expect(a.status).toBe(202);
    expect(b.status).toBe(200);
    expect(b.body.job_id).toBe(a.body.job_id);
    expect((await waitForJob(orch.url, a.body.job_id)).status).toBe("completed");
  });
});
