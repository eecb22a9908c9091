// SIGKILL the Orchestrator process at random moments while 50 jobs run on two hosts; after each restart on
// the same database every job must still end completed, with outputs, and never run on two hosts at once.
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { api, submit, waitForJob } from "../helpers/api.js";
import { type ChildOrchestrator, makeTestDir, spawnOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

const sims: Simulator[] = [];
const dirs: string[] = [];
let child: ChildOrchestrator | null = null;
afterAll(async () => {
  await child?.kill("SIGKILL");
  await Promise.all(sims.map((s) => s.close()));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

type Interval = { host: number; start: number; end: number };

function executions(): Map<string, Interval[]> {
  const byJob = new Map<string, Interval[]>();
  sims.forEach((sim, host) => {
    for (const entry of Object.values(sim.history) as {
      prompt: unknown[];
      status?: { messages?: [string, { timestamp?: number }][] };
    }[]) {
      const tag = (entry.prompt[3] as { orchestrator?: { job_id?: string } })?.orchestrator;
      const msgs = entry.status?.messages ?? [];
      const start = msgs.find((m) => m[0] === "execution_start")?.[1].timestamp;
      const end = msgs[msgs.length - 1]?.[1].timestamp;
      if (!tag?.job_id || start === undefined || end === undefined) continue;
      byJob.set(tag.job_id, [...(byJob.get(tag.job_id) ?? []), { host, start, end }]);
    }
  });
  return byJob;
}

describe("SIGKILL at random points", () => {
  it("loses no job and never runs one twice at the same time", async () => {
    sims.push(await startSimulator({ stepMs: 8 }), await startSimulator({ stepMs: 8 }));
    const dir = makeTestDir();
    dirs.push(dir);
    writeWorkflow(dir, "slow", slowWorkflow);
    const config = { dir, backends: sims.map((s, i) => ({ id: `h${i}`, url: s.url })) };
    const ids: string[] = [];
    const batches = [20, 15, 15];
    for (const n of batches) {
      child = await spawnOrchestrator(config);
      for (let i = 0; i < n; i++)
        ids.push(await submit(child.url, { workflow_id: "slow", parameters: { steps: 2 + (i % 7) } }));
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 400));
      await child.kill("SIGKILL");
    }
    child = await spawnOrchestrator(config);
    const base = child.url;
    const jobs = [];
    for (const id of ids) jobs.push(await waitForJob(base, id, undefined, 60_000));
    expect(jobs.map((j) => j.status)).toEqual(ids.map(() => "completed"));
    for (const j of jobs) expect(j.outputs.length).toBeGreaterThan(0);
    const list = await api(base, "GET", "/api/jobs?limit=100");
    expect(list.body.jobs).toHaveLength(50);

    for (const [jobId, runs] of executions()) {
      for (const x of runs) {
        for (const y of runs) {
          if (x === y || x.host === y.host) continue;
          const overlap = x.start < y.end && y.start < x.end;
          expect(overlap, `job ${jobId} ran on two hosts at once: ${JSON.stringify(runs)}`).toBe(false);
        }
      }
    }
  }, 120_000);
});
