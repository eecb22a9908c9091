// Retention with two replicas on one database and one shared data_dir: their sweeps never overlap, so each
// expired job's files are deleted by one sweep, once, and neither replica's sweep fails meanwhile.
import { existsSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { type ReplicaSet, replicaSet, startReplica } from "../helpers/replicas.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

const JOBS = 12;
/** About 1.7 s of retention. */
const RETENTION_DAYS = 0.00002;

let sim: Simulator;
let set: ReplicaSet;
let r1: RunningOrchestrator;
let r2: RunningOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  set = await replicaSet({
    backends: [{ id: "sim-1", url: sim.url, max_inflight: 4 }],
    // Sweeps only when the test asks (and once at start-up, with nothing to expire yet).
    overrides: { retention: { output_retention_days: RETENTION_DAYS, sweep_interval_s: 3600 } },
  });
  r1 = await startReplica(set, "r1");
  r2 = await startReplica(set, "r2");
  await untilHealthy(r1.url);
  await untilHealthy(r2.url);
});
afterAll(async () => {
  await r1?.stop();
  await r2?.stop();
  await sim?.close();
  if (set) rmSync(set.dataDir, { recursive: true, force: true });
});

describe("retention across replicas", () => {
  it("expires each old job once when both replicas sweep at the same time", async () => {
    const ids = await Promise.all(
      Array.from({ length: JOBS }, (_, i) =>
        submit((i % 2 ? r2 : r1).url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } }),
      ),
    );
    for (const id of ids) expect((await waitForJob(r1.url, id)).status).toBe("completed");
    const outputs = (id: string) => path.join(set.dataDir, "outputs", id);
    for (const id of ids) expect(existsSync(outputs(id))).toBe(true);
    await new Promise((r) => setTimeout(r, RETENTION_DAYS * 86_400_000 + 300));

    // Started in one turn, so without the lock both would read the same old jobs and expire each twice.
    const swept = await Promise.all([r1.app.retention.sweep(), r2.app.retention.sweep()]);
    expect(swept[0] + swept[1]).toBe(JOBS);
    expect(swept).toContain(0);
    // The lock is released after a sweep: the next one (on either replica) runs, and finds nothing left.
    expect(await r2.app.retention.sweep()).toBe(0);
    expect(await r1.app.retention.sweep()).toBe(0);

    for (const id of ids) {
      expect(existsSync(outputs(id))).toBe(false);
      const job = (await api(r2.url, "GET", `/api/job/${id}`)).body;
      expect(job).toMatchObject({ status: "completed", outputs_expired: true, outputs: [] });
    }
  });
});
