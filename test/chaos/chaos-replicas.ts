// Chaos across replicas: N Orchestrator processes on one PostgreSQL database and one shared data_dir, M
// simulated hosts, J jobs submitted round-robin to whichever replicas are up, while replicas are SIGKILLed and
// hosts crash (forgetting their queue and history), each coming back a moment later. At the end every job must
// be final and read the same on every replica, no job may have run on two prompts at once (the simulators
// report each prompt's start and end, crashes included), and every completed job's outputs must download
// byte-identical from every replica.
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import path from "node:path";
import { type ChildOrchestrator, makeTestDir } from "../helpers/orchestrator.js";
import { type ReplicaSet, spawnReplica } from "../helpers/replicas.js";
import { writeWorkflow } from "../helpers/workflows.js";
import { txt2imgGraph } from "../sim/graphs.js";
import { type PromptRun, type Simulator, startSimulator } from "../sim/simulator.js";

export interface ReplicaChaosReport {
  seconds: number;
  jobs: number;
  accepted: number;
  completed: number;
  failed: number;
  cancelled: number;
  /** Jobs not final (or unreadable) when the settle time ran out. */
  lost: string[];
  /** Jobs whose state differs between replicas at the end. */
  disagreements: string[];
  /** "job X: prompt P started on hN while prompt Q was running on hM". */
  overlaps: string[];
  /** Prompts the hosts started, and the most any one host held at once (running + pending, seen at starts). */
  promptsStarted: number;
  maxHostQueue: number;
  /** Outputs missing, different from their sha256, or different between replicas. */
  downloadFailures: string[];
  downloadsChecked: number;
  /** The errors of failed jobs, counted by message. */
  failures: Record<string, number>;
  replicaKills: number;
  /** Kills of a replica that drove a host at that moment (per its /api/health). */
  driverKills: number;
  hostCrashes: number;
  /** Replicas that exited without being killed. */
  unexpectedExits: string[];
}

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const rand = (min: number, max: number) => min + Math.random() * (max - min);
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

/** A small sampler graph whose seed and step count vary per job, so the hosts' output caches never answer. */
const chaosWorkflow = {
  parameters: {
    steps: { type: "integer", targets: ["3.steps"], default: 2 },
    seed: { type: "integer", targets: ["3.seed"], default: 1 },
  },
  graph: txt2imgGraph({ seed: 1, steps: 2, width: 32, height: 32, prefix: "chaos" }),
};

interface Replica {
  id: string;
  dir: string;
  proc: ChildOrchestrator | null;
  killed: boolean;
}

/** Watches every prompt on every host; a job's prompt starting while another of its prompts runs is an overlap. */
class OverlapWatch {
  private readonly running = new Map<string, { promptId: string; host: string }>();
  readonly overlaps: string[] = [];

  on(host: string, e: PromptRun): void {
    const tag = e.extraData.orchestrator as { job_id?: string } | undefined;
    if (!tag?.job_id) return;
    const now = this.running.get(tag.job_id);
    if (e.phase === "start") {
      if (now)
        this.overlaps.push(
          `job ${tag.job_id}: prompt ${e.promptId} started on ${host} while ${now.promptId} ran on ${now.host}`,
        );
      this.running.set(tag.job_id, { promptId: e.promptId, host });
    } else if (now?.promptId === e.promptId) this.running.delete(tag.job_id);
  }
}

/** The hosts a replica says it drives (none when it cannot say: no leases in this build, or it is busy). */
async function drivesOf(url: string): Promise<string[]> {
  try {
    const res = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { replica?: { drives?: string[] } };
    return body.replica?.drives ?? [];
  } catch {
    return [];
  }
}

export async function runReplicaChaos(o: {
  databaseUrl: string;
  replicas: number;
  hosts: number;
  jobs: number;
  /** Submissions are spread over this long; kills and crashes happen meanwhile. */
  seconds: number;
  leaseS?: number;
  settleS?: number;
  log?: (s: string) => void;
}): Promise<ReplicaChaosReport> {
  const log = o.log ?? (() => {});
  const watch = new OverlapWatch();
  const sims: Simulator[] = [];
  let promptsStarted = 0;
  let maxHostQueue = 0;
  for (let i = 0; i < o.hosts; i++) {
    const host = `h${i}`;
    const onPrompt = (e: PromptRun) => {
      watch.on(host, e);
      if (e.phase !== "start") return;
      promptsStarted++;
      // One replica drives a host at a time, so the host never holds more than its max_inflight of ours.
      const q = sims[i]!.getQueue();
      maxHostQueue = Math.max(maxHostQueue, q.running.length + q.pending.length);
    };
    sims.push(await startSimulator({ stepMs: 20, nodeMs: 1, onPrompt }));
  }
  const root = makeTestDir();
  const dataDir = path.join(root, "data");
  writeWorkflow(root, "chaos", chaosWorkflow);
  const set: ReplicaSet = {
    databaseUrl: o.databaseUrl,
    dataDir,
    config: {
      databaseUrl: o.databaseUrl,
      dataDir,
      backends: sims.map((s, i) => ({ id: `h${i}`, url: s.url })),
      overrides: {
        jobs: { max_attempts: 10, recovery_grace_s: 1 },
        ha: { lease_s: o.leaseS ?? 2 },
      },
    },
  };
  const report: ReplicaChaosReport = {
    seconds: o.seconds,
    jobs: o.jobs,
    accepted: 0,
    completed: 0,
    failed: 0,
    cancelled: 0,
    lost: [],
    disagreements: [],
    overlaps: watch.overlaps,
    promptsStarted: 0,
    maxHostQueue: 0,
    downloadFailures: [],
    downloadsChecked: 0,
    failures: {},
    replicaKills: 0,
    driverKills: 0,
    hostCrashes: 0,
    unexpectedExits: [],
  };

  const replicas: Replica[] = [];
  const boot = async (r: Replica) => {
    r.killed = false;
    const proc = await spawnReplica(set, r.id, r.dir);
    void proc.exited.then((code) => {
      if (!r.killed) report.unexpectedExits.push(`${r.id} exited ${code}`);
      if (r.proc === proc) r.proc = null;
    });
    r.proc = proc;
  };
  for (let i = 0; i < o.replicas; i++)
    replicas.push({ id: `r${i + 1}`, dir: makeTestDir(), proc: null, killed: false });
  await Promise.all(replicas.map(boot));
  const live = () => replicas.filter((r) => r.proc).map((r) => r.proc!);
  let turn = 0;
  const nextLive = async (): Promise<ChildOrchestrator> => {
    for (;;) {
      const up = live();
      if (up.length) return up[turn++ % up.length]!;
      await sleep(50);
    }
  };

  const ids: string[] = [];
  const submitOne = async (i: number) => {
    // One idempotency key per job: a submit cut off by a kill is retried on another replica without
    // risking a second copy, so exactly J jobs exist.
    const giveUpAt = Date.now() + 60_000;
    while (Date.now() < giveUpAt) {
      const target = await nextLive();
      try {
        const res = await fetch(`${target.url}/api/job`, {
          method: "POST",
          headers: { "content-type": "application/json", "idempotency-key": `chaos-${i}` },
          body: JSON.stringify({
            workflow_id: "chaos",
            parameters: { steps: 1 + Math.floor(Math.random() * 6), seed: i + 1 },
          }),
          signal: AbortSignal.timeout(5000),
        });
        if (res.status === 202 || res.status === 200) {
          ids.push(((await res.json()) as { job_id: string }).job_id);
          return;
        }
        await res.body?.cancel();
      } catch {
        // killed mid-request: try the next replica with the same key
      }
      await sleep(50);
    }
    log(`job ${i}: no replica accepted it within 60 s`);
  };

  const started = Date.now();
  let submitting = true;
  const submitter = (async () => {
    const gap = (o.seconds * 1000) / o.jobs;
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < o.jobs; i++) {
      inflight.push(submitOne(i));
      await sleep(Math.max(0, started + (i + 1) * gap - Date.now()));
    }
    await Promise.all(inflight);
    submitting = false;
  })();

  const restarts: Promise<void>[] = [];
  const chaos = (async () => {
    for (let n = 0; submitting; n++) {
      await sleep(rand(800, 2500));
      if (!submitting) break;
      // The first two events are one of each, so every run has both; then a coin decides.
      const killReplica = n === 0 || (n > 1 && Math.random() < 0.5);
      const up = replicas.filter((r) => r.proc);
      if (killReplica && up.length > 1) {
        // Prefer a replica that drives a host: its death is the one that needs a takeover.
        const driving = await Promise.all(up.map((x) => drivesOf(x.proc!.url)));
        const drivers = up.filter((_, k) => driving[k]!.length > 0);
        const r = pick(drivers.length ? drivers : up);
        const its = driving[up.indexOf(r)]!;
        report.replicaKills++;
        if (its.length) report.driverKills++;
        log(`kill -9 ${r.id}, driving ${its.join(", ") || "no host"} (${ids.length} jobs accepted so far)`);
        r.killed = true;
        await r.proc!.kill("SIGKILL");
        r.proc = null;
        restarts.push(
          (async () => {
            await sleep(rand(300, 3000));
            await boot(r);
            log(`${r.id} back`);
          })(),
        );
      } else {
        const i = Math.floor(Math.random() * sims.length);
        report.hostCrashes++;
        log(`crash host h${i}`);
        await sims[i]!.crash();
        await sleep(rand(100, 800));
        await sims[i]!.restart();
      }
    }
  })();

  await Promise.all([submitter, chaos]);
  await Promise.all(restarts);
  report.accepted = ids.length;
  log(`${ids.length} jobs accepted in ${((Date.now() - started) / 1000).toFixed(1)} s; settling`);

  // Bounded settle: whatever is not final by then is lost.
  const states = new Map<string, string>();
  const settleBy = Date.now() + (o.settleS ?? 120) * 1000;
  while (Date.now() < settleBy) {
    const open = ids.filter((id) => !TERMINAL.has(states.get(id) ?? ""));
    if (!open.length) break;
    for (const id of open) {
      const target = await nextLive();
      const res = await fetch(`${target.url}/api/job/${id}`).catch(() => null);
      if (res?.status === 200) states.set(id, ((await res.json()) as { status: string }).status);
      else {
        await res?.body?.cancel();
        states.set(id, res ? `http ${res.status}` : "unreachable");
      }
    }
    await sleep(250);
  }
  log(`settled after ${((Date.now() - started) / 1000).toFixed(1)} s; checking every replica`);

  // Every replica must tell the same story, and serve the same bytes for every output.
  const up = live();
  for (const id of ids) {
    const views = await Promise.all(
      up.map(async (r) => {
        const res = await fetch(`${r.url}/api/job/${id}`).catch(() => null);
        if (res?.status !== 200) {
          await res?.body?.cancel();
          return null;
        }
        return (await res.json()) as {
          status: string;
          error: { message?: string } | null;
          outputs: { filename: string; sha256: string; url: string }[];
        };
      }),
    );
    const first = views[0];
    const status = first?.status ?? states.get(id) ?? "unknown";
    if (views.some((v) => v?.status !== status))
      report.disagreements.push(`${id}: ${views.map((v) => v?.status).join(" / ")}`);
    if (status === "completed") report.completed++;
    else if (status === "failed") {
      report.failed++;
      const m = first?.error?.message ?? "?";
      report.failures[m] = (report.failures[m] ?? 0) + 1;
    } else if (status === "cancelled") report.cancelled++;
    else report.lost.push(`${id} (${status})`);
    if (status !== "completed" || !first) continue;
    if (!first.outputs.length) report.downloadFailures.push(`${id}: completed with no outputs`);
    for (const out of first.outputs) {
      const { pathname } = new URL(out.url);
      let reference: Buffer | null = null;
      for (const r of up) {
        report.downloadsChecked++;
        const res = await fetch(`${r.url}${pathname}`).catch(() => null);
        if (res?.status !== 200) {
          await res?.body?.cancel();
          report.downloadFailures.push(
            `${id}/${out.filename} from ${r.url}: ${res ? `http ${res.status}` : "unreachable"}`,
          );
          continue;
        }
        const bytes = Buffer.from(await res.arrayBuffer());
        if (createHash("sha256").update(bytes).digest("hex") !== out.sha256)
          report.downloadFailures.push(`${id}/${out.filename} from ${r.url}: bytes differ from its sha256`);
        if (reference && !reference.equals(bytes))
          report.downloadFailures.push(`${id}/${out.filename} from ${r.url}: differs from another replica's`);
        reference ??= bytes;
      }
    }
  }

  report.promptsStarted = promptsStarted;
  report.maxHostQueue = maxHostQueue;
  for (const r of replicas) {
    r.killed = true;
    await r.proc?.kill("SIGTERM");
  }
  await Promise.all(sims.map((s) => s.close()));
  const clean =
    !report.lost.length &&
    !report.overlaps.length &&
    !report.downloadFailures.length &&
    !report.disagreements.length;
  if (clean)
    for (const dir of [root, ...replicas.map((r) => r.dir)]) rmSync(dir, { recursive: true, force: true });
  else
    log(
      `kept for a look: shared data ${dataDir}; replica logs ${replicas.map((r) => path.join(r.dir, "logs")).join(", ")}`,
    );
  return report;
}

/** What a clean run means: every job accepted and final, no overlap, same everywhere, every output served. */
export function replicaChaosPassed(r: ReplicaChaosReport): boolean {
  return (
    r.accepted === r.jobs &&
    !r.lost.length &&
    !r.overlaps.length &&
    !r.disagreements.length &&
    !r.downloadFailures.length &&
    !r.unexpectedExits.length
  );
}
