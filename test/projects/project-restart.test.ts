// SIGKILL the server in the middle of projects; after a restart on the same database every project ends
// completed and no node ran twice (each run's prompt executed exactly once on the hosts).
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { submit, waitForJob } from "../helpers/api.js";
import { type ChildOrchestrator, makeTestDir, spawnOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { download, pngSize, scale, txt2img } from "./project-helpers.js";

const sims: Simulator[] = [];
let dir = "";
let child: ChildOrchestrator | null = null;
afterAll(async () => {
  await child?.kill("SIGKILL");
  await Promise.all(sims.map((s) => s.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Prompts each run (our job id in the prompt's extra data) executed, over every host. */
function executionsPerRun(): Map<string, number> {
  const runs = new Map<string, number>();
  for (const sim of sims) {
    for (const entry of Object.values(sim.history) as { prompt: unknown[] }[]) {
      const tag = (entry.prompt[3] as { orchestrator?: { job_id?: string } })?.orchestrator;
      if (tag?.job_id) runs.set(tag.job_id, (runs.get(tag.job_id) ?? 0) + 1);
    }
  }
  return runs;
}

describe("SIGKILL mid-project", () => {
  it("resumes every project after a restart and runs no node twice", async () => {
    sims.push(await startSimulator({ stepMs: 10 }), await startSimulator({ stepMs: 10 }));
    dir = makeTestDir();
    // Hosts stay up throughout: generous host timeouts keep a loaded CI machine's slow answers from
    // reading as a dead host (which would rightly requeue a prompt).
    const config = {
      dir,
      backends: sims.map((s, i) => ({ id: `h${i}`, url: s.url })),
      overrides: { jobs: { recovery_grace_s: 10 }, http: { request_timeout_s: 10 } },
    };
    child = await spawnOrchestrator(config);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(
        await submit(child.url, {
          project: {
            nodes: [
              txt2img("shot", { parameters: { prompt: `p${i}`, steps: 6 + i, width: 64, height: 64 } }),
              scale("up", "shot", 72, 40),
              scale("down", "up", 24, 16),
            ],
          },
        }),
      );
    }
    // Kill once some projects are under way but not finished.
    await waitForJob(child.url, ids[0]!, (j) => j.nodes.some((n: any) => n.status === "completed"), 20_000);
    await child.kill("SIGKILL");
    child = await spawnOrchestrator(config);
    await new Promise((r) => setTimeout(r, 150 + Math.random() * 200));
    await child.kill("SIGKILL");
    child = await spawnOrchestrator(config);

    const jobs = [];
    for (const id of ids) jobs.push(await waitForJob(child.url, id, undefined, 60_000));
    expect(jobs.map((j) => j.status)).toEqual(ids.map(() => "completed"));
    for (const j of jobs) {
      expect(j.nodes.map((n: any) => n.status)).toEqual(["completed", "completed", "completed"]);
      expect(pngSize(await download(j.nodes[2].outputs[0].url))).toEqual({ width: 24, height: 16 });
    }
    const runs = executionsPerRun();
    expect(runs.size).toBe(ids.length * 3);
    const twice = [...runs].filter(([, n]) => n !== 1);
    const attempts = jobs.flatMap((j) => j.nodes.map((n: any) => `${n.id}:${n.attempts}`));
    expect(twice, `runs executed more than once; node attempts ${attempts.join(" ")}`).toEqual([]);
  }, 120_000);
});
