// Changing the fleet while running: hosts added through the API take work and survive a restart; a
// deleted host drains first and stays gone; drain and disable survive a restart.
import { rmSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, startOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { startSimulator } from "../sim/simulator.js";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const hostOf = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
};

describe("POST /api/backends", () => {
  it("adds a host that takes work at once, and is still there after a restart", async () => {
    const sim = await startSimulator({ stepMs: 1 });
    const dir = makeTestDir();
    dirs.push(dir);
    try {
      const first = await startOrchestrator({ backends: [], dir });
      try {
        const added = await api(first.url, "POST", "/api/backends", {
          id: "added",
          ...hostOf(sim.url),
          capabilities: ["sdxl"],
        });
        expect(added.status).toBe(201);
        expect(added.body).toMatchObject({ id: "added", origin: "api", capabilities: ["sdxl"] });
        await untilHealthy(first.url);
        const id = await submit(first.url, {
          workflow_id: "invert_image",
          parameters: { width: 8, height: 8 },
        });
        expect(await waitForJob(first.url, id)).toMatchObject({ status: "completed", backend_id: "added" });
        expectError(
          await api(first.url, "POST", "/api/backends", { id: "added", host: "127.0.0.1" }),
          409,
          "BACKEND_EXISTS",
        );
        const bad = await api(first.url, "POST", "/api/backends", { id: "x", host: "127.0.0.1", port: 0 });
        expectError(bad, 400, "VALIDATION_FAILED");
        expect(bad.body.error.details.fields[0].field).toBe("port");
      } finally {
        await first.stop();
      }
      const second = await startOrchestrator({ backends: [], dir });
      try {
        const list = await api(second.url, "GET", "/api/backends");
        expect(list.body.backends).toMatchObject([{ id: "added", origin: "api" }]);
        await untilHealthy(second.url);
        const id = await submit(second.url, {
          workflow_id: "invert_image",
          parameters: { width: 8, height: 8 },
        });
        expect(await waitForJob(second.url, id)).toMatchObject({ status: "completed", backend_id: "added" });
      } finally {
        await second.stop();
      }
    } finally {
      await sim.close();
    }
  });
});

describe("PATCH /api/backends/:id", () => {
  it("changes scheduling fields, refuses address changes naming the field, and keeps them across a restart", async () => {
    const sim = await startSimulator({ stepMs: 1 });
    const dir = makeTestDir();
    dirs.push(dir);
    try {
      const first = await startOrchestrator({ backends: [{ id: "s", url: sim.url }], dir });
      try {
        const r = await api(first.url, "PATCH", "/api/backends/s", { weight: 3, capabilities: ["flux"] });
        expect(r.status).toBe(200);
        expect(r.body).toMatchObject({ weight: 3, capabilities: ["flux"], origin: "config" });
        const moved = await api(first.url, "PATCH", "/api/backends/s", { port: 1234 });
        expectError(moved, 400, "VALIDATION_FAILED");
        expect(moved.body.error.details.fields[0].field).toBe("port");
        const typo = await api(first.url, "PATCH", "/api/backends/s", { wieght: 2 });
        expect(typo.body.error.details.fields[0].field).toBe("wieght");
        expectError(
          await api(first.url, "PATCH", "/api/backends/nope", { weight: 2 }),
          404,
          "BACKEND_NOT_FOUND",
        );
      } finally {
        await first.stop();
      }
      const second = await startOrchestrator({ backends: [{ id: "s", url: sim.url }], dir });
      try {
        const r = await api(second.url, "GET", "/api/backends/s");
        expect(r.body).toMatchObject({ weight: 3, capabilities: ["flux"] });
      } finally {
        await second.stop();
      }
      // Editing the host's entry in config.yaml: the file wins over the API's change.
      const third = await startOrchestrator({ backends: [{ id: "s", url: sim.url, weight: 2 }], dir });
      try {
        const r = await api(third.url, "GET", "/api/backends/s");
        expect(r.body).toMatchObject({ weight: 2, capabilities: [] });
      } finally {
        await third.stop();
      }
    } finally {
      await sim.close();
    }
  });
});

describe("DELETE /api/backends/:id", () => {
  it("drains the host first: its running job finishes, new work goes elsewhere, then it is gone for good", async () => {
    const slow = await startSimulator({ stepMs: 20 });
    const other = await startSimulator({ stepMs: 1 });
    const dir = makeTestDir();
    dirs.push(dir);
    writeWorkflow(dir, "slow", slowWorkflow);
    try {
      const first = await startOrchestrator({ backends: [{ id: "slow", url: slow.url }], dir });
      try {
        await untilHealthy(first.url);
        const running = await submit(first.url, { workflow_id: "slow", parameters: { steps: 40 } });
        await waitForJob(first.url, running, (j) => j.status === "running");
        const del = await api(first.url, "DELETE", "/api/backends/slow");
        expect(del.status).toBe(202);
        expect(del.body).toMatchObject({ id: "slow", state: "removing", inflight: 1 });
        expectError(await api(first.url, "POST", "/api/backends/slow/enable"), 409, "BACKEND_REMOVING");
        await api(first.url, "POST", "/api/backends", { id: "other", ...hostOf(other.url) });
        const next = await submit(first.url, {
          workflow_id: "invert_image",
          parameters: { width: 8, height: 8 },
        });
        expect(await waitForJob(first.url, next)).toMatchObject({ status: "completed", backend_id: "other" });
        expect(await waitForJob(first.url, running)).toMatchObject({
          status: "completed",
          backend_id: "slow",
        });
        await eventually(
          async () => (await api(first.url, "GET", "/api/backends/slow")).status === 404,
          10_000,
          "the drained host to be removed",
        );
      } finally {
        await first.stop();
      }
      // config.yaml still lists it, unchanged: the API's delete holds across the restart.
      const second = await startOrchestrator({ backends: [{ id: "slow", url: slow.url }], dir });
      try {
        const list = await api(second.url, "GET", "/api/backends");
        expect(list.body.backends.map((b: { id: string }) => b.id)).toEqual(["other"]);
      } finally {
        await second.stop();
      }
    } finally {
      await slow.close();
      await other.close();
    }
  }, 30_000);
});

describe("drain and disable", () => {
  it("survive a restart", async () => {
    const sim = await startSimulator({ stepMs: 1 });
    const dir = makeTestDir();
    dirs.push(dir);
    const backends = [
      { id: "a", url: sim.url },
      { id: "b", url: sim.url },
    ];
    try {
      const first = await startOrchestrator({ backends, dir });
      try {
        expect((await api(first.url, "POST", "/api/backends/a/drain")).body.state).toBe("drained");
        expect((await api(first.url, "POST", "/api/backends/b/disable")).body.state).toBe("disabled");
      } finally {
        await first.stop();
      }
      const second = await startOrchestrator({ backends, dir });
      try {
        const list = (await api(second.url, "GET", "/api/backends")).body.backends;
        expect(list).toMatchObject([
          { id: "a", state: "drained", enabled: true },
          { id: "b", state: "disabled", enabled: false },
        ]);
        await api(second.url, "POST", "/api/backends/a/enable");
      } finally {
        await second.stop();
      }
      const third = await startOrchestrator({ backends, dir });
      try {
        const list = (await api(third.url, "GET", "/api/backends")).body.backends;
        expect(list[0]).toMatchObject({ id: "a", enabled: true });
        expect(list[0].state).not.toBe("drained");
      } finally {
        await third.stop();
      }
    } finally {
      await sim.close();
    }
  });
});
