// The PostgreSQL engine itself: what runs on it really is in PostgreSQL, replicas starting together migrate
// the schema once, a server that cannot be reached stops start-up naming database_url, and an outage while
// running refuses writes (503) until the server is back, then the work goes on.
import { spawn } from "node:child_process";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { PG_SCHEMA_VERSION } from "../../src/core/storage/pg-schema.js";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { REPO, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { createTestDatabase } from "../helpers/postgres.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;
let url: string;
let sql: pg.Client;

beforeAll(async () => {
  url = await createTestDatabase();
  sim = await startSimulator({ stepMs: 2 });
  orch = await startOrchestrator({ backends: [{ id: "sim-1", url: sim.url }], databaseUrl: url });
  await untilHealthy(orch.url);
  sql = new pg.Client({ connectionString: url });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end().catch(() => {});
  await orch?.stop();
  await sim?.close();
});

/** Runs `code` in its own Node process with tsx (each process is one replica starting). */
function node(code: string): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], {
    cwd: REPO,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) => child.once("exit", (c) => resolve({ code: c, out })));
}

describe("on PostgreSQL", () => {
  it("stores jobs and their outputs in the database, not in a local file", async () => {
    expect(orch.app.db.engine).toBe("postgres");
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 16, height: 16 } });
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    const row = await sql.query("SELECT status, backend_id FROM jobs WHERE id = $1", [id]);
    expect(row.rows[0]).toEqual({ status: "completed", backend_id: "sim-1" });
    const outs = await sql.query("SELECT filename FROM job_outputs WHERE job_id = $1", [id]);
    expect(outs.rows.map((r) => r.filename)).toEqual(job.outputs.map((o: any) => o.filename));
  });

  it("is migrated exactly once when three replicas start on an empty database together", async () => {
    const fresh = await createTestDatabase();
    const open = `import { openDatabase } from ${JSON.stringify(path.join(REPO, "src/core/storage/database.ts"))};
      const db = openDatabase("unused", { url: ${JSON.stringify(fresh)}, timeoutMs: 10000 });
      db.close(); console.log("opened");`;
    const runs = await Promise.all([node(open), node(open), node(open)]);
    for (const r of runs) expect(r, r.out).toMatchObject({ code: 0 });
    const c = new pg.Client({ connectionString: fresh });
    await c.connect();
    const versions = await c.query("SELECT version FROM schema_version ORDER BY version");
    const tables = await c.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'jobs'");
    await c.end();
    // Each migration once, in order (later migrations append to the list).
    expect(versions.rows.map((r) => r.version)).toEqual(
      Array.from({ length: PG_SCHEMA_VERSION }, (_, i) => i + 1),
    );
    expect(tables.rows[0].n).toBe(1);
  });

  it("refuses writes while the server is unreachable and goes on by itself once it is back", async () => {
    const name = new URL(url).pathname.slice(1);
    // Only another database's session may close this one to new connections.
    const admin = new pg.Client({ connectionString: inject("pgAdminUrl") });
    await admin.connect();
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
    await admin.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'orchestrator'",
      [name],
    );
    try {
      // The first statement after the cut finds the connection gone; from then on writes are refused.
      await eventually(async () => {
        const r = await api(orch.url, "POST", "/api/job", { workflow_id: "invert_image" });
        return r.status === 503 ? r : null;
      });
      const r = await api(orch.url, "POST", "/api/job", { workflow_id: "invert_image" });
      expectError(r, 503, "STORAGE_UNAVAILABLE");
      expect(r.body.error.details.database).toBe("unreachable");
      const health = await api(orch.url, "GET", "/api/health");
      expect(health.status).toBe(503);
      expect(health.body).toMatchObject({ status: "down", database: "unreachable" });
    } finally {
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    await eventually(async () => (await api(orch.url, "GET", "/api/health")).body.database === "ok");
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 16, height: 16 } });
    expect((await waitForJob(orch.url, id)).status).toBe("completed");
  }, 60_000);
});
