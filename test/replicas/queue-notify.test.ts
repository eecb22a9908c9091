// Replicas share one queue: a job submitted to a replica that drives no host is run by one that does, told
// by NOTIFY orchestrator_queue rather than found by the periodic re-read (slowed down here past the bound).
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, submit, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type ReplicaSet, replicaSet, startReplica } from "../helpers/replicas.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let set: ReplicaSet;
let a: RunningOrchestrator;
let b: RunningOrchestrator;
const RESCAN_S = 20;
const tiny = { workflow_id: "invert_image", parameters: { width: 8, height: 8 } };

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 5 });
  const overrides = { scheduler: { poll_interval_s: RESCAN_S } };
  // B drives the host; A knows it but does not drive it (disabled): whatever runs, B runs it.
  set = await replicaSet({ backends: [{ id: "sim", url: sim.url }], overrides });
  b = await startReplica(set, "b");
  a = await startOrchestrator({
    ...set.config,
    backends: [{ id: "sim", url: sim.url, enabled: false }],
    dir: makeTestDir(),
    overrides: { ...overrides, ha: { replica_id: "a" } },
  });
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await sim?.close();
});

describe("a job submitted to a replica that drives no host", () => {
  it("is run by the replica that drives one, well inside the re-read interval", async () => {
    const started = Date.now();
    const id = await submit(a.url, tiny);
    const job = await waitForJob(a.url, id, (j) => j.status === "completed", 10_000);
    expect(job.backend_id).toBe("sim");
    expect(Date.now() - started).toBeLessThan((RESCAN_S / 2) * 1000);
    expect((await api(b.url, "GET", `/api/job/${id}`)).body.status).toBe("completed");
  });

  it("is still found after the LISTEN connections drop (a reconnect re-reads the queue)", async () => {
    const admin = new pg.Client({ connectionString: set.databaseUrl });
    await admin.connect();
    try {
      const killed = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE application_name = 'orchestrator-listen' AND datname = current_database()`,
      );
      expect(killed.rowCount).toBe(2);
      // Submitted while nobody listens: the NOTIFY is lost; B's reconnect must make up for it.
      const started = Date.now();
      const id = await submit(a.url, tiny);
      await waitForJob(a.url, id, (j) => j.status === "completed", 10_000);
      expect(Date.now() - started).toBeLessThan((RESCAN_S / 2) * 1000);
      await eventually(
        async () => {
          const r = await admin.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity
           WHERE application_name = 'orchestrator-listen' AND datname = current_database()`,
          );
          return r.rows[0].n === 2;
        },
        10_000,
        "both replicas listening again",
      );
    } finally {
      await admin.end();
    }
  });
});
