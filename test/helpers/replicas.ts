// Several Orchestrator replicas on one PostgreSQL database and one shared data_dir (the shared folder the
// README's "Running several replicas" asks for), in this process or as child processes for kill tests.
import path from "node:path";
import { untilHealthy } from "./api.js";
import {
  type ChildOrchestrator,
  makeTestDir,
  type RunningOrchestrator,
  spawnOrchestrator,
  startOrchestrator,
  type TestConfig,
} from "./orchestrator.js";
import { createTestDatabase } from "./postgres.js";

export interface ReplicaSet {
  databaseUrl: string;
  /** The data_dir every replica shares. */
  dataDir: string;
  /** What each replica is started with (its dir and replica id apart). */
  config: Omit<TestConfig, "dir">;
}

/** A new database and shared folder for replicas of `c` (c.overrides.ha may set lease_s and more). */
export async function replicaSet(
  c: Omit<TestConfig, "dir" | "databaseUrl" | "dataDir">,
): Promise<ReplicaSet> {
  const databaseUrl = await createTestDatabase();
  const dataDir = path.join(makeTestDir(), "data");
  return { databaseUrl, dataDir, config: { ...c, databaseUrl, dataDir } };
}

function replicaConfig(set: ReplicaSet, id: string, dir: string): TestConfig & { dir: string } {
  const o = set.config.overrides ?? {};
  return { ...set.config, dir, overrides: { ...o, ha: { ...o.ha, replica_id: id } } };
}

/** Starts replica `id` in this process (its own folder for logs; data_dir and database shared). */
export async function startReplica(set: ReplicaSet, id: string): Promise<RunningOrchestrator> {
  const r = await startOrchestrator(replicaConfig(set, id, makeTestDir()));
  await untilHealthy(r.url).catch(() => {});
  return r;
}

/** Starts replica `id` as a child process, so a test can SIGKILL it. Reuse `dir` to restart it. */
export async function spawnReplica(
  set: ReplicaSet,
  id: string,
  dir = makeTestDir(),
): Promise<ChildOrchestrator> {
  return spawnOrchestrator(replicaConfig(set, id, dir));
}
