// Re-reading config.yaml while running (POST /api/admin/reload and SIGHUP): hosts added, changed and
// removed without dropping a job; a broken file is refused with the start-up messages and changes nothing.
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { parse, stringify } from "yaml";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, spawnOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { startSimulator } from "../sim/simulator.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Edits the YAML config file in `dir` in place. */
function editConfig(dir: string, edit: (c: Record<string, any>) => void): void {
  const file = path.join(dir, "config.yaml");
  const c = parse(readFileSync(file, "utf8"));
  edit(c);
  writeFileSync(file, stringify(c));
}

const entry = (id: string, url: string) => {
  const u = new URL(url);
  return { id, host: u.hostname, port: Number(u.port), capabilities: [] };
};

describe("POST /api/admin/reload", () => {
  it("applies added, changed and removed hosts; a running job on a removed host finishes", async () => {
    const a = await startSimulator({ stepMs: 20 });
    const b = await startSimulator({ stepMs: 1 });
    const dir = makeTestDir();
    dirs.push(dir);
    writeWorkflow(dir, "slow", slowWorkflow);
    const orch = await startOrchestrator({ backends: [{ id: "a", url: a.url }], dir, configFile: true });
    try {
      await untilHealthy(orch.url);
      const running = await submit(orch.url, { workflow_id: "slow", parameters: { steps: 40 } });
      await waitForJob(orch.url, running, (j) => j.status === "running");
      // A client connection open across the reload keeps receiving events.
      const ws = new WebSocket(`${orch.url.replace(/^http/, "ws")}/api/ws`);
      const seen: string[] = [];
      ws.on("message", (d) => seen.push(JSON.parse(d.toString()).type));
      await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
      ws.send(JSON.stringify({ type: "subscribe", job_ids: [running] }));
      editConfig(dir, (c) => {
        c.backends = [entry("b", b.url)];
        c.scheduler.poll_interval_s = 0.3;
      });
      const r = await api(orch.url, "POST", "/api/admin/reload");
      expect(r.status).toBe(200);
      expect(r.body.backends).toEqual({ added: ["b"], removed: ["a"], changed: [] });
      expect(r.body.restart_required).toEqual(["scheduler.poll_interval_s"]);
      expect((await api(orch.url, "GET", "/api/backends/a")).body.state).toBe("removing");
      expect(await waitForJob(orch.url, running)).toMatchObject({ status: "completed", backend_id: "a" });
      await eventually(() => seen.includes("job.completed"), 10_000, "job.completed on the open socket");
      ws.close();
      await eventually(async () => (await api(orch.url, "GET", "/api/backends/a")).status === 404);
      const next = await submit(orch.url, {
        workflow_id: "invert_image",
        parameters: { width: 8, height: 8 },
      });
      expect(await waitForJob(orch.url, next)).toMatchObject({ status: "completed", backend_id: "b" });

      editConfig(dir, (c) => {
        c.backends[0].weight = 5;
      });
      const changed = await api(orch.url, "POST", "/api/admin/reload");
      expect(changed.body.backends).toEqual({ added: [], removed: [], changed: ["b"] });
      expect((await api(orch.url, "GET", "/api/backends/b")).body.weight).toBe(5);

      editConfig(dir, (c) => {
        c.backends[0].port = "not a port";
      });
      const bad = await api(orch.url, "POST", "/api/admin/reload");
      expectError(bad, 400, "CONFIG_INVALID");
      expect(bad.body.error.details.problems).toEqual([
        'backends[0].port: expected integer 1..65535, got "not a port"',
      ]);
      const list = (await api(orch.url, "GET", "/api/backends")).body.backends;
      expect(list).toMatchObject([{ id: "b", weight: 5, status: "online" }]);
    } finally {
      await orch.stop();
      await a.close();
      await b.close();
    }
  }, 30_000);
});

describe("SIGHUP", () => {
  it("adds a host listed in the new file; a broken file keeps the old config and logs why", async () => {
    const a = await startSimulator({ stepMs: 1 });
    const b = await startSimulator({ stepMs: 1 });
    const dir = makeTestDir();
    dirs.push(dir);
    const child = await spawnOrchestrator({ dir, backends: [{ id: "a", url: a.url }] });
    let out = "";
    child.child.stdout!.on("data", (d) => {
      out += d;
    });
    try {
      editConfig(dir, (c) => {
        c.backends.push(entry("b", b.url));
      });
      child.child.kill("SIGHUP");
      await eventually(async () => (await api(child.url, "GET", "/api/backends/b")).status === 200);
      await untilHealthy(child.url);

      writeFileSync(path.join(dir, "config.yaml"), "backends:\n  - id: a\n    host: [oops\n");
      child.child.kill("SIGHUP");
      await eventually(() => out.includes("config reload refused"), 10_000, "the refusal in the log");
      const line = JSON.parse(out.split("\n").find((l) => l.includes("config reload refused"))!);
      expect(line.level).toBe(50);
      expect(line.problems.length).toBeGreaterThan(0);
      expect(line.problems[0]).toMatch(/^line \d+:/);
      const ids = (await api(child.url, "GET", "/api/backends")).body.backends.map(
        (x: { id: string }) => x.id,
      );
      expect(ids).toEqual(["a", "b"]);
      // Still serving jobs on the old config.
      const id = await submit(child.url, {
        workflow_id: "invert_image",
        parameters: { width: 8, height: 8 },
      });
      expect((await waitForJob(child.url, id)).status).toBe("completed");
    } finally {
      expect(await child.kill("SIGTERM")).toBe(0);
      await a.close();
      await b.close();
    }
  }, 40_000);
});
