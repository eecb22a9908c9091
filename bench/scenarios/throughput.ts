// Scenario 2, API throughput. (a) Jobs accepted per second by POST /api/job from 64 concurrent clients,
// into the durable SQLite queue (WAL, synchronous=NORMAL, as shipped), with the only host disabled so
// nothing is dispatched. (b) GET /api/job/:id latency with 100,000 jobs in the database, seeded with
// JobStore in a setup step before Orchestrator starts. Baseline for both: a bare Fastify server (same
// framework, same reply shapes, no work), measured in the same run, repeats interleaved.
import path from "node:path";
import { freePort, REPO, spawnTs, waitForLine } from "../lib/children.js";
import { getJson } from "../lib/http.js";
import { describeStatuses, type LoadResult, runLoad } from "../lib/load.js";
import { databasePath, orchestratorDir, startOrchestrator } from "../lib/orchestrator-process.js";
import { fmt, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { rssBytes, toMB } from "../lib/rss.js";
import { installDatabase, seededDatabase } from "../lib/seed-jobs.js";
import { median, percentile, seededRandom } from "../lib/stats.js";
import { txt2imgManifest } from "../lib/workload.js";

const SUBMIT_CLIENTS = 64;
const GET_CLIENTS = 8;

export async function throughput(ctx: RunContext): Promise<ScenarioResult> {
  const submits = ctx.quick ? 1_000 : 4_000;
  const gets = ctx.quick ? 2_000 : 5_000;
  const repeats = ctx.quick ? 1 : 3;
  const warmup = ctx.quick ? 200 : 400;
  const seededCount = ctx.quick ? 10_000 : 100_000;

  const bodies = (tag: string) => (i: number) => ({
    method: "POST" as const,
    path: "/api/job",
    body: JSON.stringify(
      txt2imgManifest({ prompt: `${tag} ${i}`, steps: 20, seed: i + 1, width: 512, height: 512 }),
    ),
  });
  const submitLoad = (origin: string, total: number, tag: string) =>
    runLoad({ origin, clients: SUBMIT_CLIENTS, total, request: bodies(tag) });

  // Hosts paused: the one backend is disabled (and nothing listens on its port), so every job stays queued.
  const backends = [{ id: "paused", url: `http://127.0.0.1:${await freePort()}`, enabled: false }];
  const bare = spawnTs("bare-server", path.join(REPO, "bench", "baselines", "bare-server.ts"), [
    "--port",
    "0",
  ]);
  const cleanups: (() => Promise<void>)[] = [() => bare.stop(5000)];
  try {
    const bareUrl = (
      await waitForLine(bare, /bare server listening on (http:\/\/127\.0\.0\.1:\d+)/, {
        timeoutMs: 30_000,
        what: "the bare server",
      })
    )[1]!;

    // (a) submits
    const orchA = await startOrchestrator({
      name: "throughput-submit",
      backends,
      profileDir: ctx.profileDir,
    });
    cleanups.push(() => orchA.stop());
    ctx.log(`throughput: ${repeats} × ${submits} submits each, ${SUBMIT_CLIENTS} clients`);
    await submitLoad(orchA.url, warmup, "warm-up");
    await submitLoad(bareUrl, warmup, "warm-up");
    const orchSubmits: LoadResult[] = [];
    const bareSubmits: LoadResult[] = [];
    // RSS after each repeat: steady means headroom, a climb per repeat would be memory kept per job.
    const rssSteps = [rssBytes(orchA.child.pid)];
    for (let r = 0; r < repeats; r++) {
      orchSubmits.push(await submitLoad(orchA.url, submits, `repeat ${r}`));
      rssSteps.push(rssBytes(orchA.child.pid));
      bareSubmits.push(await submitLoad(bareUrl, submits, `repeat ${r}`));
    }
    const health = await getJson<{ jobs: { queued: number } }>(`${orchA.url}/api/health`);
    await orchA.stop();

    // (b) status reads with a big table
    const seeded = await seededDatabase(seededCount);
    ctx.log(
      `throughput: ${seededCount} jobs seeded in ${fmt(seeded.seconds)} s; ${repeats} × ${gets} GETs, ${GET_CLIENTS} clients`,
    );
    const dirB = orchestratorDir("throughput-get");
    installDatabase(seeded, databasePath(dirB));
    const orchB = await startOrchestrator({
      name: "throughput-get",
      dir: dirB,
      backends,
      profileDir: ctx.profileDir,
    });
    cleanups.push(() => orchB.stop());
    const rnd = seededRandom(7);
    const getLoad = (origin: string, total: number) =>
      runLoad({
        origin,
        clients: GET_CLIENTS,
        total,
        request: () => ({
          method: "GET",
          path: `/api/job/${seeded.ids[Math.floor(rnd() * seeded.ids.length)]}`,
        }),
      });
    await getLoad(orchB.url, warmup);
    await getLoad(bareUrl, warmup);
    const orchGets: LoadResult[] = [];
    const bareGets: LoadResult[] = [];
    for (let r = 0; r < repeats; r++) {
      orchGets.push(await getLoad(orchB.url, gets));
      bareGets.push(await getLoad(bareUrl, gets));
    }
    await orchB.stop();

    const accepted = (rs: LoadResult[]) => rs.every((r) => r.statuses.get(202) === r.total);
    const ok = (rs: LoadResult[]) => rs.every((r) => r.statuses.get(200) === r.total);
    const rate = (rs: LoadResult[]) => median(rs.map((r) => r.perSecond));
    const p99 = (rs: LoadResult[]) => median(rs.map((r) => percentile(r.latencies, 99)));
    const p50 = (rs: LoadResult[]) => median(rs.map((r) => percentile(r.latencies, 50)));
    const submitRate = rate(orchSubmits);
    const getP99 = p99(orchGets);
    const rows = [
      {
        scenario: "2 Submit throughput",
        metric: `POST /api/job accepted/s (${SUBMIT_CLIENTS} clients, durable SQLite, hosts paused)`,
        value: `${fmt(submitRate, 0)}/s${accepted(orchSubmits) ? "" : " (not all 202!)"}`,
        baseline: `${fmt(rate(bareSubmits), 0)}/s (bare Fastify)`,
        ratio: ratio(submitRate, rate(bareSubmits)),
        target: "≥ 1,500/s",
        met: accepted(orchSubmits) && submitRate >= 1500,
      },
      {
        scenario: "2 Status reads",
        metric: `GET /api/job/:id p99 (${fmt(seededCount, 0)} jobs in DB, ${GET_CLIENTS} clients)`,
        value: `${fmt(getP99, 2)} ms${ok(orchGets) ? "" : " (not all 200!)"}`,
        baseline: `${fmt(p99(bareGets), 2)} ms (bare Fastify)`,
        ratio: ratio(getP99, p99(bareGets)),
        target: "— (none set)",
        met: null,
      },
    ];
    const list = (rs: LoadResult[], f: (r: LoadResult) => string) => rs.map(f).join("; ");
    const details = [
      "### 2 Submit throughput and status reads",
      `Submits: ${repeats} repeat(s) of ${submits} POSTs (txt2img_basic manifests) from ${SUBMIT_CLIENTS} keep-alive clients, ` +
        `after ${warmup} warm-up POSTs; Orchestrator and the bare server alternate. Orchestrator runs with the shipped ` +
        "SQLite settings (WAL, synchronous=NORMAL: every accepted job is committed before the 202) and one disabled host.",
      `- Orchestrator: ${list(orchSubmits, (r) => `${fmt(r.perSecond, 0)}/s p50 ${fmt(percentile(r.latencies, 50))} ms p99 ${fmt(percentile(r.latencies, 99))} ms [${describeStatuses(r)}]`)}`,
      `- bare Fastify: ${list(bareSubmits, (r) => `${fmt(r.perSecond, 0)}/s p50 ${fmt(percentile(r.latencies, 50))} ms [${describeStatuses(r)}]`)}`,
      `- Orchestrator after the submits: ${health.body?.jobs?.queued ?? "?"} jobs queued; RSS after the warm-up and after each repeat: ${rssSteps.map((b) => fmt(toMB(b))).join(" → ")} MB`,
      "",
      `Status reads: ${fmt(seededCount, 0)} queued jobs seeded with prepareJob + JobStore (one row, copied by SQLite; ${fmt(seeded.seconds)} s) into ` +
        `the database file before Orchestrator started on it; ${repeats} repeat(s) of ${gets} GETs of random seeded ids from ${GET_CLIENTS} clients.`,
      `- Orchestrator: p50 ${fmt(p50(orchGets), 2)} ms, p99 ${fmt(getP99, 2)} ms (per repeat: ${list(orchGets, (r) => `${fmt(percentile(r.latencies, 99), 2)}`)} ms), ${fmt(rate(orchGets), 0)} reads/s [${describeStatuses(orchGets[0]!)}]`,
      `- bare Fastify: p50 ${fmt(p50(bareGets), 2)} ms, p99 ${fmt(p99(bareGets), 2)} ms, ${fmt(rate(bareGets), 0)} reads/s`,
    ].join("\n");
    return { rows, details };
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  }
}
