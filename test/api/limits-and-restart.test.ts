// Oversize bodies, a server with no reachable host, and jobs that outlive a restart.

import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { api, eventually, expectError, submit, waitForJob } from "../helpers/api.js";
import { makeTestDir, spawnOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { startSimulator } from "../sim/simulator.js";

/** A port nothing listens on: bound, then released. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("limits", () => {
  it("a 2 MB garbage body → 413 PAYLOAD_TOO_LARGE, and the server keeps serving", async () => {
    const orch = await startOrchestrator({ backends: [], overrides: { server: { body_limit_mb: 1 } } });
    try {
      const garbage = Buffer.alloc(2 * 1024 * 1024, 0x7a).toString();
      expectError(await api(orch.url, "POST", "/api/job", garbage), 413, "PAYLOAD_TOO_LARGE");
      expect((await api(orch.url, "GET", "/api/health")).status).toBe(200);
    } finally {
      await orch.stop();
    }
  });
});

describe("no host reachable", () => {
  it("health is degraded with every backend offline, and a job waits queued", async () => {
    const orch = await startOrchestrator({
      backends: [{ id: "gone", url: `http://127.0.0.1:${await deadPort()}` }],
    });
    try {
      await eventually(
        async () => (await api(orch.url, "GET", "/api/backends")).body.backends[0].last_error,
        5000,
        "a failed poll",
      );
      const h = await api(orch.url, "GET", "/api/health");
      expect(h.body).toMatchObject({ status: "degraded", backends: { online: 0, total: 1 } });
      const id = await submit(orch.url, { workflow_id: "invert_image", parameters: {} });
      expect((await api(orch.url, "GET", `/api/job/${id}`)).body.status).toBe("queued");
    } finally {
      await orch.stop();
    }
  });
});

describe("restart", () => {
  it("jobs are still listed, with their outputs, after the server restarts on the same database", async () => {
    const sim = await startSimulator({ stepMs: 1 });
    const dir = makeTestDir();
    dirs.push(dir);
    try {
      const first = await startOrchestrator({ backends: [{ id: "s", url: sim.url }], dir });
      const done = await submit(first.url, {
        workflow_id: "invert_image",
        parameters: { width: 8, height: 8 },
      });
      await waitForJob(first.url, done);
      await first.app.scheduler.setEnabled("s", false);
      const waiting = await submit(first.url, {
        workflow_id: "invert_image",
        parameters: { width: 8, height: 8 },
      });
      await first.stop();

      const second = await startOrchestrator({ backends: [{ id: "s", url: sim.url }], dir });
      try {
        const list = await api(second.url, "GET", "/api/jobs");
        expect(list.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([waiting, done]);
        const old = await api(second.url, "GET", `/api/job/${done}`);
        expect(old.body.status).toBe("completed");
        expect((await fetch(old.body.outputs[0].url)).status).toBe(200);
        // Disabling survives the restart; the queued job was not lost and runs once the host is enabled.
        const hosts = await api(second.url, "GET", "/api/backends");
        expect(hosts.body.backends[0]).toMatchObject({ id: "s", enabled: false, state: "disabled" });
        expect((await api(second.url, "POST", "/api/backends/s/enable")).status).toBe(200);
        expect((await waitForJob(second.url, waiting)).status).toBe("completed");
      } finally {
        await second.stop();
      }
    } finally {
      await sim.close();
    }
  });
});

describe("graceful shutdown", () => {
  it("SIGTERM exits 0, and a job left running on its host is finished by the next process", async () => {
    const sim = await startSimulator({ stepMs: 10 });
    const dir = makeTestDir();
    dirs.push(dir);
    writeWorkflow(dir, "slow", slowWorkflow);
    const config = { dir, backends: [{ id: "s", url: sim.url }] };
    try {
      const first = await spawnOrchestrator(config);
      const id = await submit(first.url, { workflow_id: "slow", parameters: { steps: 60 } });
      await waitForJob(first.url, id, (j) => j.status === "running");
      expect(await first.kill("SIGTERM")).toBe(0);
      const second = await spawnOrchestrator(config);
      try {
        const job = await waitForJob(second.url, id, undefined, 20_000);
        // Re-attached to the same prompt rather than running it again.
        expect(job).toMatchObject({ status: "completed", attempt: 1 });
        expect(sim.stats.promptsReceived).toBe(1);
      } finally {
        await second.kill("SIGTERM");
      }
    } finally {
      await sim.close();
    }
  }, 60_000);
});
