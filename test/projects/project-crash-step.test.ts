// A crash between a run's end and its project's next step: the database then holds an open project whose
// finished run has a downstream run still waiting. The next start must find that project (among many
// queued single jobs) and take the step, without running the finished node again. The crash is simulated
// by writing the rows as the crashed process would have left them.
import { rmSync } from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { api, submit, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { download, pngSize, scale, txt2img } from "./project-helpers.js";

let sim: Simulator | null = null;
let orch: RunningOrchestrator | null = null;
const dir = makeTestDir();
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("restart after a crash between a run's end and its project's next step", () => {
  it("takes the step: the waiting run is queued and runs, the finished one does not run again", async () => {
    sim = await startSimulator({ stepMs: 1 });
    const config = { dir, backends: [{ id: "h", url: sim.url }] };
    orch = await startOrchestrator(config);
    const id = await submit(orch.url, {
      project: { nodes: [txt2img("shot"), scale("up", "shot", 40, 24)] },
    });
    const done = await waitForJob(orch.url, id);
    expect(done.status).toBe("completed");
    // Single jobs queued for a host that is away: the project must be found among them.
    expect((await api(orch.url, "POST", "/api/backends/h/disable")).status).toBe(200);
    for (let i = 0; i < 20; i++)
      await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 8 + i, height: 8 } });
    await orch.stop();
    orch = null;

    let shot = "";
    let up = "";
    const db = new Database(path.join(dir, "data", "orchestrator.db"));
    try {
      const run = db.prepare("SELECT id FROM jobs WHERE project_id = ? AND project_node = ?").pluck();
      shot = run.get(id, "shot") as string;
      up = run.get(id, "up") as string;
      db.prepare(`UPDATE jobs SET status = 'waiting', backend_id = NULL, prompt_id = NULL, attempt = 0,
        progress = NULL, started_at = NULL, finished_at = NULL WHERE id = ?`).run(up);
      db.prepare("DELETE FROM job_outputs WHERE job_id = ?").run(up);
      db.prepare("DELETE FROM job_attempts WHERE job_id = ?").run(up);
      db.prepare("UPDATE jobs SET status = 'running', progress = NULL, finished_at = NULL WHERE id = ?").run(
        id,
      );
    } finally {
      db.close();
    }

    orch = await startOrchestrator(config);
    expect((await api(orch.url, "POST", "/api/backends/h/enable")).status).toBe(200);
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    expect(job.nodes.map((n: { status: string }) => n.status)).toEqual(["completed", "completed"]);
    const output = job.nodes.find((n: { id: string }) => n.id === "up").outputs[0];
    expect(pngSize(await download(output.url))).toEqual({ width: 40, height: 24 });
    // Each prompt carries its run's id: "shot" ran once, "up" once before the crash and once after it.
    const runs = new Map<string, number>();
    for (const entry of Object.values(sim.history) as { prompt: unknown[] }[]) {
      const run = (entry.prompt[3] as { orchestrator?: { job_id?: string } })?.orchestrator?.job_id;
      if (run) runs.set(run, (runs.get(run) ?? 0) + 1);
    }
    expect([runs.get(shot), runs.get(up)]).toEqual([1, 2]);
  }, 60_000);
});
