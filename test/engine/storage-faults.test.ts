// The database locked by another process, and the disk full: submits are refused 503 STORAGE_UNAVAILABLE
// with Retry-After (nothing accepted that was not stored), health says which at once, reads still work,
// a job that ends meanwhile is recorded once writes work again, and everything recovers by itself.
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SqliteDatabase } from "../../src/core/storage/sql.js";
import { api, eventually, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 20 });
  const dir = makeTestDir();
  writeWorkflow(dir, "slow", slowWorkflow);
  orch = await startOrchestrator({ dir, backends: [{ id: "a", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

const jobCount = async () => (await api(orch.url, "GET", "/api/jobs?limit=200")).body.jobs.length;

function expectUnavailable(r: { status: number; body: any; headers: Headers }, database: string) {
  expect(r.status, JSON.stringify(r.body)).toBe(503);
  expect(r.body.error.code).toBe("STORAGE_UNAVAILABLE");
  expect(r.body.error.details.database).toBe(database);
  expect(Number(r.headers.get("retry-after"))).toBeGreaterThan(0);
}

describe("a database locked by another process", () => {
  it("refuses submits with 503, answers health and reads, and recovers when the lock goes", async () => {
    const running = await submit(orch.url, { workflow_id: "slow", parameters: { steps: 40 } });
    await waitForJob(orch.url, running, (j) => j.status === "running");
    const before = await jobCount();

    const other = new Database(orch.app.config.database_path);
    other.pragma("busy_timeout = 0");
    other.exec("BEGIN EXCLUSIVE");
    try {
      expectUnavailable(await api(orch.url, "POST", "/api/job", { workflow_id: "slow" }), "locked");
      expectUnavailable(await api(orch.url, "POST", "/api/job", { workflow_id: "slow" }), "locked");
      const health = await api(orch.url, "GET", "/api/health");
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: "down", database: "locked" });
      expect(await jobCount()).toBe(before);
      // The running job ends on its host while nothing can be written.
      await eventually(() => sim.getQueue().running.length === 0, 15_000, "the prompt to finish on the host");
      expect((await api(orch.url, "GET", `/api/job/${running}`)).body.status).toBe("running");
    } finally {
      other.exec("ROLLBACK");
      other.close();
    }

    await eventually(async () => (await api(orch.url, "GET", "/api/health")).body.database === "ok");
    expect((await waitForJob(orch.url, running)).status).toBe("completed");
    const after = await submit(orch.url, { workflow_id: "slow", parameters: { steps: 2 } });
    expect((await waitForJob(orch.url, after)).status).toBe("completed");
    expect(await jobCount()).toBe(before + 1);
  }, 60_000);
});

describe("a full disk", () => {
  it("refuses submits with 503 and health says full, until space returns", async () => {
    const before = await jobCount();
    // SQLite's own size cap fails writes exactly as a full disk does (SQLITE_FULL), without root or mounts.
    const db = (orch.app.db as SqliteDatabase).sqlite;
    db.pragma(`max_page_count = ${db.pragma("page_count", { simple: true }) as number}`);
    // Then fill the pages still free, as the last bytes of a disk get used up.
    const fill = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
    for (let i = 0; ; i++) {
      try {
        fill.run(`test_filler_${i}`, "f".repeat(2000));
      } catch {
        break;
      }
    }
    try {
      const big = { workflow_id: "slow", metadata: { notes: "n".repeat(60 * 1024) } };
      expectUnavailable(await api(orch.url, "POST", "/api/job", big), "full");
      expectUnavailable(await api(orch.url, "POST", "/api/job", { workflow_id: "slow" }), "full");
      const health = await api(orch.url, "GET", "/api/health");
      expect(health.body).toMatchObject({ status: "down", database: "full" });
      expect(await jobCount()).toBe(before);
    } finally {
      db.pragma("max_page_count = 4294967294");
      db.prepare("DELETE FROM meta WHERE key LIKE 'test_filler_%'").run();
    }
    await eventually(async () => (await api(orch.url, "GET", "/api/health")).body.database === "ok");
    const id = await submit(orch.url, { workflow_id: "slow", parameters: { steps: 2 } });
    expect((await waitForJob(orch.url, id)).status).toBe("completed");
  }, 60_000);
});
