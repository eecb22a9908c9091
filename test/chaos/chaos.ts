// A randomized failure run: jobs flow in while hosts crash and come back (forgetting their history) and
// the Orchestrator process is SIGKILLed and restarted on the same database. At the end every accepted job
// must be in a terminal state; anything else is counted as lost.
import { rmSync } from "node:fs";
import { parseArgs } from "node:util";
import { createDatabase, startEmbeddedPostgres } from "../helpers/embedded-postgres.js";
import { type ChildOrchestrator, makeTestDir, spawnOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { replicaChaosPassed, runReplicaChaos } from "./chaos-replicas.js";

export interface ChaosReport {
  seconds: number;
  accepted: number;
  completed: number;
  failed: number;
  cancelled: number;
  lost: number;
  hostCrashes: number;
  orchestratorKills: number;
}

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (min: number, max: number) => min + Math.random() * (max - min);

export async function runChaos(o: {
  seconds: number;
  hosts?: number;
  log?: (s: string) => void;
}): Promise<ChaosReport> {
  const log = o.log ?? (() => {});
  const sims: Simulator[] = [];
  for (let i = 0; i < (o.hosts ?? 3); i++) sims.push(await startSimulator({ stepMs: 5 }));
  const dir = makeTestDir();
  writeWorkflow(dir, "slow", slowWorkflow);
  const config = {
    dir,
    backends: sims.map((s, i) => ({ id: `h${i}`, url: s.url })),
    overrides: { jobs: { max_attempts: 10, recovery_grace_s: 1 } },
  };
  let orch: ChildOrchestrator = await spawnOrchestrator(config);
  const ids: string[] = [];
  const report: ChaosReport = {
    seconds: o.seconds,
    accepted: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    lost: 0,
    hostCrashes: 0,
    orchestratorKills: 0,
  };
  const deadline = Date.now() + o.seconds * 1000;
  let restarting: Promise<void> | null = null;

  const submitter = (async () => {
    while (Date.now() < deadline) {
      if (restarting) await restarting;
      try {
        const res = await fetch(`${orch.url}/api/job`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            workflow_id: "slow",
            parameters: { steps: 1 + Math.floor(Math.random() * 10) },
          }),
          signal: AbortSignal.timeout(5000),
        });
        if (res.status === 202) ids.push(((await res.json()) as { job_id: string }).job_id);
        else await res.body?.cancel();
      } catch {
        // the process was killed mid-request: that submit was never acknowledged, so it is not counted
      }
      await sleep(rand(5, 40));
    }
  })();

  const chaos = (async () => {
    while (Date.now() < deadline) {
      await sleep(rand(300, 1200));
      if (Date.now() >= deadline) break;
      if (Math.random() < 0.3) {
        report.orchestratorKills++;
        log(`kill -9 orchestrator (${ids.length} accepted so far)`);
        restarting = (async () => {
          await orch.kill("SIGKILL");
          orch = await spawnOrchestrator(config);
        })();
        await restarting;
        restarting = null;
      } else {
        const sim = sims[Math.floor(Math.random() * sims.length)]!;
        report.hostCrashes++;
        log(`crash host ${sim.url}`);
        await sim.crash();
        await sleep(rand(100, 800));
        await sim.restart();
      }
    }
  })();

  await Promise.all([submitter, chaos]);
  report.accepted = ids.length;
  // Let everything finish: bounded, then whatever is not terminal counts as lost.
  const settleBy = Date.now() + 60_000;
  const states = new Map<string, string>();
  while (Date.now() < settleBy) {
    for (const id of ids) {
      if (TERMINAL.has(states.get(id) ?? "")) continue;
      const res = await fetch(`${orch.url}/api/job/${id}`).catch(() => null);
      if (res?.status === 200) states.set(id, ((await res.json()) as { status: string }).status);
      else states.set(id, res ? `http ${res.status}` : "unreachable");
    }
    if (ids.every((id) => TERMINAL.has(states.get(id) ?? ""))) break;
    await sleep(200);
  }
  for (const id of ids) {
    const s = states.get(id) ?? "unknown";
    if (s === "completed") report.completed++;
    else if (s === "failed") report.failed++;
    else if (s === "cancelled") report.cancelled++;
    else report.lost++;
  }
  await orch.kill("SIGTERM");
  await Promise.all(sims.map((s) => s.close()));
  rmSync(dir, { recursive: true, force: true });
  return report;
}

// `npm run chaos -- --minutes 5`, or across replicas on PostgreSQL:
// `npm run chaos -- --replicas 3 --postgres [--hosts 3] [--jobs 300] [--minutes 1] [--lease-s 2]`
if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      minutes: { type: "string" },
      replicas: { type: "string" },
      postgres: { type: "boolean", default: false },
      hosts: { type: "string" },
      jobs: { type: "string" },
      "lease-s": { type: "string" },
    },
  });
  const minutes = Number(values.minutes ?? 1);
  const log = (s: string) => console.log(`[chaos] ${s}`);
  const run = values.postgres
    ? runOnPostgres({
        replicas: Number(values.replicas ?? 3),
        hosts: Number(values.hosts ?? 3),
        jobs: Number(values.jobs ?? 300),
        seconds: minutes * 60,
        leaseS: values["lease-s"] ? Number(values["lease-s"]) : undefined,
        log,
      })
    : values.replicas && values.replicas !== "1"
      ? Promise.reject(new Error("--replicas needs --postgres: on SQLite one server owns the database"))
      : runChaos({ seconds: minutes * 60, log }).then((r) => {
          console.log(
            `jobs accepted ${r.accepted} / completed ${r.completed} / failed ${r.failed} / lost ${r.lost}`,
          );
          console.log(`host crashes ${r.hostCrashes}, orchestrator kills ${r.orchestratorKills}`);
          return r.lost === 0;
        });
  run.then(
    (ok) => process.exit(ok ? 0 : 1),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(2);
    },
  );
}

/** Outside vitest: a throwaway PostgreSQL cluster of its own for the replica run. */
async function runOnPostgres(
  o: Omit<Parameters<typeof runReplicaChaos>[0], "databaseUrl">,
): Promise<boolean> {
  const cluster = await startEmbeddedPostgres();
  try {
    const r = await runReplicaChaos({ ...o, databaseUrl: await createDatabase(cluster.adminUrl) });
    console.log(
      `${o.replicas} replicas, ${o.hosts} hosts: jobs ${r.accepted}/${r.jobs} accepted / completed ${r.completed} / ` +
        `failed ${r.failed} / cancelled ${r.cancelled} / lost ${r.lost.length}`,
    );
    console.log(
      `replica kills ${r.replicaKills} (${r.driverKills} driving a host), host crashes ${r.hostCrashes}; prompts ${r.promptsStarted}, ` +
        `most held by one host ${r.maxHostQueue}; overlaps ${r.overlaps.length}; ` +
        `downloads checked ${r.downloadsChecked}, failed ${r.downloadFailures.length}; ` +
        `replicas disagreeing ${r.disagreements.length}; unexpected exits ${r.unexpectedExits.length}`,
    );
    for (const [m, n] of Object.entries(r.failures)) console.log(`  failed ×${n}: ${m}`);
    for (const line of [
      ...r.lost,
      ...r.overlaps,
      ...r.downloadFailures,
      ...r.disagreements,
      ...r.unexpectedExits,
    ].slice(0, 30))
      console.log(`  ${line}`);
    return replicaChaosPassed(r);
  } finally {
    await cluster.stop();
  }
}
