// Scenario 4, scale: Orchestrator with 1,000,000 queued jobs and one simulated host taking them. Reported:
// its resident memory, the time to come back after a kill -9 until it is healthy and dispatching, and how
// soon a host that frees up gets its next job. Baseline: the same process on an empty store, restarts
// interleaved, medians over repeats. One run per storage engine (bench/lib/scale-engines.ts).

import { type Child, waitUntil as until } from "../lib/children.js";
import { getJson, postJson } from "../lib/http.js";
import { type OrchestratorProcess, orchestratorDir, startOrchestrator } from "../lib/orchestrator-process.js";
import { fmt, type Row, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { peakRssBytes, rssBytes, toMB } from "../lib/rss.js";
import { postgresEngine, type ScaleEngine, sqliteEngine } from "../lib/scale-engines.js";
import { type SimHost, startSimHost } from "../lib/sim-host.js";
import { median } from "../lib/stats.js";
import { txt2imgManifest } from "../lib/workload.js";

const HOST = "scale-host";
/** Times a host is taken away and given back per start, for the dispatch-to-a-freed-host figure. */
const FREE_CYCLES = 5;
const TARGET_RSS_MB = 400;
const TARGET_RESTART_S = 3;

interface Start {
  /** spawn → /api/health answers 200. */
  answerMs: number;
  /** spawn → /api/health says `ok` (database ok, the host online). */
  healthyMs: number;
  /** spawn → healthy, and a job submitted then has reached the host. */
  readyMs: number;
  /** One request each, in milliseconds: reads whose cost could grow with the queue. */
  reads: { health: number; queuedPage: number; metrics: number };
  /** Jobs queued (health) when the memory was read. */
  queued: number;
  rss: number;
  peak: number;
  /** Host given back (enable) → the host starts a prompt, by the host's clock; one per cycle. */
  freedMs: number[];
}

export async function scale(ctx: RunContext): Promise<ScenarioResult> {
  const results = [await scaleOn(sqliteEngine, ctx)];
  const pg = await postgresEngine();
  try {
    results.push(await scaleOn(pg, ctx));
  } finally {
    await pg.close();
  }
  return { rows: results.flatMap((r) => r.rows), details: results.map((r) => r.details).join("\n\n") };
}

export async function scaleOn(engine: ScaleEngine, ctx: RunContext): Promise<ScenarioResult> {
  const count = ctx.quick ? 10_000 : 1_000_000;
  const repeats = ctx.quick ? 0 : 3;
  const fullDir = orchestratorDir("scale-full");
  const seconds = await engine.seed(fullDir, count);
  const emptyDir = orchestratorDir("scale-empty");
  await engine.seed(emptyDir, 0);
  ctx.log(`scale (${engine.name}): ${fmt(count, 0)} queued jobs seeded in ${fmt(seconds)} s`);
  // 20 steps × 2 ms: the seeded jobs keep the host busy without the bench's CPU going to the simulator.
  const host = await startSimHost({ name: "scale", stepMs: 2 });
  try {
    const startAndKill = async (dir: string, full: boolean): Promise<Start> => {
      await hostIdle(host);
      const orch = await startOrchestrator({
        name: "scale",
        dir,
        backends: [{ id: HOST, url: host.url }],
        profileDir: ctx.profileDir,
        ...engine.options(dir),
      });
      try {
        return await measure(orch, host, full);
      } finally {
        // Killed, not stopped: the next start is a recovery, as after a crash.
        await orch.kill();
      }
    };

    // The first starts (on the seeded store, and creating the empty one) are warm-ups, not recoveries;
    // --quick counts them instead, to stay short.
    const firstFull = await startAndKill(fullDir, true);
    const firstEmpty = await startAndKill(emptyDir, false);
    const full: Start[] = ctx.quick ? [firstFull] : [];
    const empty: Start[] = ctx.quick ? [firstEmpty] : [];
    for (let r = 0; r < repeats; r++) {
      full.push(await startAndKill(fullDir, true));
      empty.push(await startAndKill(emptyDir, false));
    }
    return report(engine, ctx, count, seconds, { firstFull, full, empty });
  } finally {
    await host.stop();
  }
}

async function measure(orch: OrchestratorProcess, host: SimHost, full: boolean): Promise<Start> {
  const spawned = performance.now() - orch.startMs;
  const spawnedAt = Date.now() - orch.startMs;
  await waitUntil(orch.child, "/api/health to say ok", async () => (await health(orch)).status === "ok");
  const healthyMs = performance.now() - spawned;
  // Dispatch works once the host starts a prompt this process sent (the host was idle at the spawn). With
  // jobs queued that is one of them; on an empty store, a job submitted now.
  await submit(orch, 0);
  let firstStart = Number.NaN;
  await waitUntil(orch.child, "a prompt to start on the host", async () => {
    firstStart = Math.min(...(await promptStarts(host)).filter((t) => t >= spawnedAt));
    return Number.isFinite(firstStart);
  });
  const readyMs = Math.max(healthyMs, firstStart - spawnedAt);

  // Let it work a little as it would in service (list pages, a metrics scrape), then read its memory.
  let cursor: string | null = null;
  for (let i = 0; i < 5; i++) {
    const page: { body: { next_cursor: string | null } } = await getJson(
      `${orch.url}/api/jobs?limit=200${cursor ? `&cursor=${cursor}` : ""}`,
    );
    cursor = page.body.next_cursor;
  }
  const reads = {
    health: await timed(() => health(orch)),
    queuedPage: await timed(() => getJson(`${orch.url}/api/jobs?status=queued&limit=200`)),
    metrics: await timed(() => getJson(`${orch.url}/metrics`)),
  };
  await new Promise((r) => setTimeout(r, 1500));
  const queued = (await health(orch)).jobs.queued;
  const rss = rssBytes(orch.child.pid);

  const freedMs: number[] = [];
  for (let i = 0; i < FREE_CYCLES; i++) freedMs.push(await dispatchToFreedHost(orch, host, !full));
  return {
    answerMs: orch.startMs,
    healthyMs,
    readyMs,
    queued,
    reads,
    rss,
    peak: peakRssBytes(orch.child.pid),
    freedMs,
  };
}

/**
 * The host is taken away (disable) until nothing of ours is on it, then given back: milliseconds from the
 * `enable` request until the host starts a prompt, by the host's own /history timestamps. With an empty
 * store one job is submitted while the host is away, so there is something to dispatch.
 */
async function dispatchToFreedHost(
  orch: OrchestratorProcess,
  host: SimHost,
  submitOne: boolean,
): Promise<number> {
  await postJson(`${orch.url}/api/backends/${HOST}/disable`, {});
  await waitUntil(orch.child, "the host to be free", async () => {
    const b = await getJson<{ inflight: number }>(`${orch.url}/api/backends/${HOST}`);
    return b.body.inflight === 0 && (await hostIdle(host, 0));
  });
  if (submitOne) await submit(orch, 0);
  const t0 = Date.now();
  const r = await postJson(`${orch.url}/api/backends/${HOST}/enable`, {});
  if (r.status !== 200) throw new Error(`enable ${HOST}: ${r.status} ${JSON.stringify(r.body)}`);
  let started = Number.NaN;
  await waitUntil(orch.child, "a prompt to start on the freed host", async () => {
    started = (await promptStarts(host)).find((t) => t >= t0) ?? Number.NaN;
    return Number.isFinite(started);
  });
  return started - t0;
}

async function timed(f: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function submit(orch: OrchestratorProcess, priority: number): Promise<string> {
  const manifest = txt2imgManifest({ prompt: "scale probe", steps: 1, seed: 1, width: 64, height: 64 });
  const r = await postJson<{ job_id: string }>(`${orch.url}/api/job`, { ...manifest, priority });
  if (r.status !== 202) throw new Error(`POST /api/job: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.job_id;
}

async function health(orch: OrchestratorProcess) {
  return (await getJson<{ status: string; jobs: { queued: number } }>(`${orch.url}/api/health`)).body;
}

/** execution_start of the host's latest prompts (ms, the host's clock: the same machine's). */
async function promptStarts(host: SimHost): Promise<number[]> {
  type Entry = { status?: { messages?: [string, { timestamp?: number }][] } };
  const r = await getJson<Record<string, Entry>>(`${host.url}/history?max_items=20`);
  return Object.values(r.body).flatMap((e) =>
    (e.status?.messages ?? []).flatMap(([m, d]) =>
      m === "execution_start" && d.timestamp ? [d.timestamp] : [],
    ),
  );
}

/** Waits (up to `timeoutMs`) until the host runs and holds no prompt; false when it does not. */
async function hostIdle(host: SimHost, timeoutMs = 30_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const q = await getJson<{ queue_running: unknown[]; queue_pending: unknown[] }>(`${host.url}/queue`);
    if (q.body.queue_running.length + q.body.queue_pending.length === 0) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
}

function waitUntil(child: Child, what: string, probe: () => Promise<boolean>): Promise<void> {
  return until(child, probe, { timeoutMs: 60_000, everyMs: 5, what });
}

function report(
  engine: ScaleEngine,
  ctx: RunContext,
  count: number,
  seedSeconds: number,
  s: { firstFull: Start; full: Start[]; empty: Start[] },
): ScenarioResult {
  const med = (xs: Start[], f: (x: Start) => number) => median(xs.map(f));
  const freed = (xs: Start[]) => median(xs.flatMap((x) => x.freedMs));
  const rssFull = med(s.full, (x) => x.rss);
  const rssEmpty = med(s.empty, (x) => x.rss);
  const readyFull = med(s.full, (x) => x.readyMs);
  const readyEmpty = med(s.empty, (x) => x.readyMs);
  const jobs = `${fmt(count, 0)} queued, ${engine.name}`;
  const rows: Row[] = [
    {
      scenario: "4 Scale",
      metric: `Orchestrator RSS with ${jobs}`,
      value: `${fmt(toMB(rssFull))} MB`,
      baseline: `${fmt(toMB(rssEmpty))} MB (empty database)`,
      ratio: ratio(rssFull, rssEmpty),
      target: engine.targets ? `≤ ${TARGET_RSS_MB} MB` : "— (none set)",
      met: engine.targets ? toMB(rssFull) <= TARGET_RSS_MB : null,
    },
    {
      scenario: "4 Scale",
      metric: `restart after kill -9 until healthy and dispatching (${jobs})`,
      value: `${fmt(readyFull / 1000, 2)} s`,
      baseline: `${fmt(readyEmpty / 1000, 2)} s (empty database)`,
      ratio: ratio(readyFull, readyEmpty),
      target: engine.targets ? `≤ ${TARGET_RESTART_S} s` : "— (none set)",
      met: engine.targets ? readyFull / 1000 <= TARGET_RESTART_S : null,
    },
    {
      scenario: "4 Scale",
      metric: `a host frees up → it starts the next job, p50 (${jobs})`,
      value: `${fmt(freed(s.full))} ms`,
      baseline: `${fmt(freed(s.empty))} ms (one job queued)`,
      ratio: ratio(freed(s.full), freed(s.empty)),
      target: "— (none set)",
      met: null,
    },
  ];
  const list = (xs: Start[]) =>
    xs
      .map(
        (x) =>
          `${fmt(x.readyMs / 1000, 2)} s (health answers ${fmt(x.answerMs / 1000, 2)} s, ok ${fmt(x.healthyMs / 1000, 2)} s), ` +
          `RSS ${fmt(toMB(x.rss))} MB with ${fmt(x.queued, 0)} queued, peak ${fmt(toMB(x.peak))} MB, ` +
          `freed host → next job ${x.freedMs.map((m) => fmt(m, 0)).join("/")} ms, ` +
          `one /api/health ${fmt(x.reads.health, 0)} ms, first page of ?status=queued ${fmt(x.reads.queuedPage, 0)} ms, ` +
          `/metrics ${fmt(x.reads.metrics, 0)} ms`,
      )
      .join("; ");
  const details = [
    `### 4 Scale (${engine.name})`,
    `${fmt(count, 0)} queued txt2img jobs seeded into the store before Orchestrator starts (${fmt(seedSeconds)} s: ` +
      `${engine.seeding}). One simulated host ` +
      "(20 steps × 2 ms) takes them at Orchestrator's defaults. Each measurement is a restart after SIGKILL, " +
      "started once the host's queue is empty: from spawning `src/main.ts` until `/api/health` says `ok` and the " +
      "host has started a prompt this process sent (by its own `execution_start`; one job is submitted once " +
      "healthy, so that the empty database has one too). The time includes Node + tsx start-up, " +
      "which the empty-database baseline shares. RSS (VmRSS) is read after five list pages, one `/api/health`, " +
      "one page of `?status=queued` and a `/metrics` scrape (each timed) and 1.5 s of work; peak is VmHWM at the end. Then, five times, the " +
      "host is disabled until none of our prompts is on it and enabled again: the figure is from the `enable` " +
      "request until the host's own `execution_start` of the next prompt (on the empty database one job is " +
      `submitted while it is away).${ctx.quick ? " --quick: the first starts are the measurements." : ""}`,
    "",
    `- first start on the seeded database: ${list([s.firstFull])}`,
    `- restarts, ${fmt(count, 0)} jobs: ${list(s.full)}`,
    `- restarts, empty database: ${list(s.empty)}`,
  ].join("\n");
  return { rows, details };
}
