// Scenario 7, mixed models: four simulated hosts of speeds 1×, 1×, 2×, 4× that hold one checkpoint each and
// pay a load (about 3× a job's run time on a 1× host) to switch; jobs over three checkpoints, shuffled with a
// fixed seed, then a run where one checkpoint is 80 % of the jobs. Five dispatchers on the same hosts, each
// starting with nothing warm: Orchestrator (expected_completion, least_queue), ComfyPool, round-robin, and
// SwarmUI's rule (a free host with the model loaded, else the first free host). While tuning, MIXED_ONLY=
// "name;name" runs only those dispatchers (names as in the table).
import { runComfyPool } from "../baselines/comfy-pool.js";
import { runPreferLoaded } from "../baselines/prefer-loaded.js";
import { type DispatchRun, runRoundRobin } from "../baselines/round-robin.js";
import { hostIntervals, type Interval } from "../lib/host-timeline.js";
import { getJson, postJson } from "../lib/http.js";
import { orchestratorDir } from "../lib/orchestrator-process.js";
import { runThroughOrchestrator } from "../lib/orchestrator-workload.js";
import { fmt, type Row, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { type SimHost, startSimHosts } from "../lib/sim-host.js";
import { percentile, seededRandom, sum } from "../lib/stats.js";
import { type Txt2ImgJob, txt2imgManifest } from "../lib/workload.js";

const SPEEDS = [1, 1, 2, 4];
const CHECKPOINTS = ["model_a.safetensors", "model_b.safetensors", "model_c.safetensors"];
const STEPS = 16;
/** Orchestrator's aging bound in this scenario (the shipped default). */
const AGING_S = 60;
const SCENARIO = "7 Mixed models";
const LEARNED = "expected_completion, learned";

interface Measured {
  name: string;
  run: DispatchRun | null;
  error?: string;
  loads: number;
  waitsMs: number[];
  /** Per host, the checkpoints it ran in order, run-length encoded ("a×12 b×3"). */
  lanes: string[];
}

interface Workload {
  name: string;
  jobs: Txt2ImgJob[];
}

export async function mixedModels(ctx: RunContext): Promise<ScenarioResult> {
  const n = ctx.quick ? 12 : 120;
  const stepMs = ctx.quick ? 5 : 20;
  const loadMs = 3 * STEPS * stepMs;
  const workloads: Workload[] = [{ name: "shuffled", jobs: shuffled(n, [1, 1, 1], 7) }];
  if (!ctx.quick) workloads.push({ name: "80 % one model", jobs: shuffled(n, [8, 1, 1], 11) });
  const hosts = await startSimHosts(
    SPEEDS.map((speed, i) => ({
      name: `mm${i}-${speed}x`,
      stepMs,
      nodeMs: 0,
      speed,
      loadMs,
      modelSlots: 1,
      checkpoints: CHECKPOINTS,
    })),
  );
  const urls = hosts.map((h) => h.url);
  const workMs = STEPS * stepMs * n;
  const boundMs = loadMs + workMs / sum(SPEEDS);
  const results: { workload: Workload; runs: Measured[] }[] = [];
  try {
    for (const w of workloads) {
      const runs: Measured[] = [];
      // The second expected_completion run reuses the first one's database: speeds and loads already learned.
      const learnedDir = orchestratorDir("mixed-learned");
      const orch = (policy: string, dir?: string) => () =>
        runThroughOrchestrator({
          name: `mixed-${policy}`,
          dir,
          hosts,
          manifests: w.jobs.map(txt2imgManifest),
          overrides: { scheduler: { policy, aging_s: AGING_S } },
          profileDir: ctx.profileDir,
        });
      const runners: [string, () => Promise<DispatchRun>][] = [
        ["expected_completion", orch("expected_completion", learnedDir)],
        ["least_queue", orch("least_queue")],
        ["ComfyPool", () => runComfyPool(urls, w.jobs, Math.max(60_000, 10 * boundMs))],
        ["round-robin", () => runRoundRobin(urls, w.jobs)],
        ["prefer loaded (SwarmUI)", () => runPreferLoaded(urls, w.jobs)],
        [LEARNED, orch("expected_completion", learnedDir)],
      ];
      // --quick is a smoke run: the two slowest-starting runs are left out.
      const only = ctx.quick
        ? ["expected_completion", "least_queue", "round-robin", "prefer loaded (SwarmUI)"]
        : process.env.MIXED_ONLY?.split(";");
      for (const [name, go] of runners) {
        if (only && !only.includes(name)) {
          runs.push({
            name,
            run: null,
            error: ctx.quick ? "not run with --quick" : "not run (MIXED_ONLY)",
            loads: Number.NaN,
            waitsMs: [],
            lanes: [],
          });
          continue;
        }
        ctx.log(`mixed models (${w.name}, ${n} jobs, bound ${fmt(boundMs / 1000, 2)} s): ${name}`);
        runs.push(await measure(name, hosts, go));
      }
      results.push({ workload: w, runs });
    }
  } finally {
    for (const h of hosts) await h.stop();
  }
  return report({ n, stepMs, loadMs, workMs, boundMs, results });
}

/** `n` jobs over the checkpoints in the given proportions, in a shuffled (seeded) order. */
function shuffled(n: number, weights: number[], seed: number): Txt2ImgJob[] {
  const total = sum(weights);
  const ckpts: string[] = [];
  weights.forEach((w, i) => {
    const count = i === weights.length - 1 ? n - ckpts.length : Math.round((n * w) / total);
    for (let k = 0; k < count; k++) ckpts.push(CHECKPOINTS[i]!);
  });
  const rnd = seededRandom(seed);
  for (let i = ckpts.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [ckpts[i], ckpts[j]] = [ckpts[j]!, ckpts[i]!];
  }
  return ckpts.map((ckpt, i) => ({
    prompt: `mixed ${i}`,
    steps: STEPS,
    seed: i + 1,
    width: 64,
    height: 64,
    ckpt,
  }));
}

async function loadsOf(hosts: SimHost[]): Promise<number> {
  const stats = await Promise.all(hosts.map((h) => getJson<{ modelLoads: number }>(`${h.url}/_sim/stats`)));
  return sum(stats.map((s) => s.body.modelLoads));
}

async function measure(name: string, hosts: SimHost[], go: () => Promise<DispatchRun>): Promise<Measured> {
  // Every run starts cold, as after a restart of every host.
  await Promise.all(hosts.map((h) => postJson(`${h.url}/free`, { unload_models: true })));
  const before = await loadsOf(hosts);
  let run: DispatchRun;
  try {
    run = await go();
  } catch (err) {
    const error = (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 200);
    return { name, run: null, error, loads: Number.NaN, waitsMs: [], lanes: [] };
  }
  const loads = (await loadsOf(hosts)) - before;
  const intervals: Interval[] = (
    await Promise.all(hosts.map((h) => hostIntervals(h.url, run.promptIds)))
  ).flat();
  // Every job is available from the run's start: its wait is until the host started it, on the hosts' clock.
  const first = Math.min(...intervals.map((iv) => iv.start));
  const lanes = await Promise.all(hosts.map((h) => lane(h.url, run.promptIds)));
  return { name, run, loads, waitsMs: intervals.map((iv) => iv.start - first), lanes };
}

/** The checkpoints a host ran for this run, in start order, run-length encoded. */
async function lane(url: string, promptIds: ReadonlySet<string>): Promise<string> {
  type Entry = {
    prompt?: [number, string, Record<string, { inputs?: { ckpt_name?: string } }>];
    status?: { messages?: [string, { timestamp?: number }][] };
  };
  const r = await getJson<Record<string, Entry>>(`${url}/history?max_items=100000`, 60_000);
  const runs = Object.entries(r.body)
    .filter(([id]) => promptIds.has(id))
    .map(([, e]) => ({
      at: e.status?.messages?.find((m) => m[0] === "execution_start")?.[1].timestamp ?? 0,
      ckpt: (e.prompt?.[2]["4"]?.inputs?.ckpt_name ?? "?").replace(/^model_|\.safetensors$/g, ""),
    }))
    .sort((a, b) => a.at - b.at);
  const parts: string[] = [];
  for (let i = 0; i < runs.length; ) {
    let j = i;
    while (j < runs.length && runs[j]!.ckpt === runs[i]!.ckpt) j++;
    parts.push(`${runs[i]!.ckpt}×${j - i}`);
    i = j;
  }
  return parts.join(" ");
}

function report(o: {
  n: number;
  stepMs: number;
  loadMs: number;
  workMs: number;
  boundMs: number;
  results: { workload: Workload; runs: Measured[] }[];
}): ScenarioResult {
  const rows: Row[] = [];
  const table: string[] = [
    "| workload | dispatcher | makespan | ÷ bound | model loads | wait p95 | wait max | failed |",
    "|---|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const { workload, runs } of o.results) {
    const [ec, lq, pool, rr, swarm, learned] = runs as [
      Measured,
      Measured,
      Measured,
      Measured,
      Measured,
      Measured,
    ];
    for (const m of runs) {
      table.push(
        m.run
          ? `| ${workload.name} | ${m.name} | ${fmt(m.run.makespanMs / 1000, 2)} s | ${fmt(m.run.makespanMs / o.boundMs, 2)}× | ${m.loads} | ${fmt(percentile(m.waitsMs, 95) / 1000, 2)} s | ${fmt(Math.max(...m.waitsMs) / 1000, 2)} s | ${m.run.failures} |`
          : `| ${workload.name} | ${m.name} | n/a (${m.error}) | | | | | |`,
      );
    }
    const span = (m: Measured) => m.run?.makespanMs ?? Number.NaN;
    const figure = (m: Measured) =>
      m.run ? `${fmt(span(m) / 1000, 2)} s, ${m.loads} loads (${m.name})` : `n/a: ${m.name} ${m.error}`;
    const ecFigure = ec.run
      ? `${fmt(span(ec) / 1000, 2)} s (${fmt(span(ec) / o.boundMs, 2)}× bound), ${ec.loads} loads`
      : `n/a (${ec.error})`;
    const what = `${workload.name}, ${o.n} jobs`;
    rows.push({
      scenario: SCENARIO,
      metric: `makespan vs lower bound (${what})`,
      value: ecFigure,
      baseline: `bound ${fmt(o.boundMs / 1000, 2)} s`,
      ratio: ec.run ? span(ec) / o.boundMs : null,
      target: "≤ 1.15× bound",
      met: ec.run ? span(ec) <= 1.15 * o.boundMs && ec.run.failures === 0 : null,
    });
    for (const b of [lq, pool, swarm, rr]) {
      const shuffledRun = workload === o.results[0]!.workload;
      const targeted = shuffledRun && (b === lq || b === pool);
      rows.push({
        scenario: SCENARIO,
        metric: `makespan (${what}) — vs ${b.name}`,
        value: ec.run ? `${fmt(span(ec) / 1000, 2)} s` : "n/a",
        baseline: figure(b),
        ratio: ratio(span(ec), span(b)),
        target: targeted ? "≥ 1.3× shorter" : "— (none set)",
        met: targeted && ec.run && b.run ? span(b) >= 1.3 * span(ec) : null,
      });
    }
    rows.push({
      scenario: SCENARIO,
      metric: `makespan vs lower bound, speeds already learned (${what})`,
      value: learned.run
        ? `${fmt(span(learned) / 1000, 2)} s (${fmt(span(learned) / o.boundMs, 2)}× bound), ${learned.loads} loads`
        : `n/a (${learned.error})`,
      baseline: `bound ${fmt(o.boundMs / 1000, 2)} s`,
      ratio: learned.run ? span(learned) / o.boundMs : null,
      target: "≤ 1.15× bound",
      met: learned.run ? span(learned) <= 1.15 * o.boundMs && learned.run.failures === 0 : null,
    });
    const maxWait = ec.run ? Math.max(...ec.waitsMs) : Number.NaN;
    rows.push({
      scenario: SCENARIO,
      metric: `queue wait p95 / max (${what})`,
      value: ec.run ? `${fmt(percentile(ec.waitsMs, 95) / 1000, 2)} s / ${fmt(maxWait / 1000, 2)} s` : "n/a",
      baseline: swarm.run
        ? `${fmt(percentile(swarm.waitsMs, 95) / 1000, 2)} s / ${fmt(Math.max(...swarm.waitsMs) / 1000, 2)} s (${swarm.name})`
        : "n/a",
      ratio: null,
      target: `max ≤ aging bound (${AGING_S} s)`,
      met: ec.run ? maxWait <= AGING_S * 1000 : null,
    });
  }
  const details = [
    `### ${SCENARIO}`,
    `Hosts: speed ${SPEEDS.map((s) => `${s}×`).join(", ")} (sampler step ${o.stepMs} ms ÷ speed), one checkpoint warm at a time ` +
      `(\`--model-slots 1\`), a load of ${o.loadMs} ms to switch (3× a ${STEPS}-step job on a 1× host; loads are not sped up). ` +
      `${o.n} txt2img jobs of ${STEPS} steps over ${CHECKPOINTS.length} checkpoints, in a seeded shuffle; every run starts with ` +
      'nothing warm (`POST /free {"unload_models": true}` to every host) and, for Orchestrator, an empty database, so it ' +
      "learns speeds and load costs during the run; the last run (`speeds learned`) reuses that run's database, as " +
      "a deployment that has seen its hosts before would.",
    "",
    `Lower bound = one load + total work ÷ total speed = ${fmt(o.loadMs / 1000, 2)} s + ${fmt(o.workMs / 1000, 2)} s ÷ ${sum(SPEEDS)} = ` +
      `${fmt(o.boundMs / 1000, 2)} s: every host starts cold, and with ${CHECKPOINTS.length} checkpoints on ${SPEEDS.length} hosts ` +
      "at least one load per checkpoint that runs falls on a host that must then still do its share of the work. " +
      "Per-prompt costs (encoding, output transfer, dispatch) are not in the bound.",
    "",
    "Model loads: the hosts' own count (`/_sim/stats`). Queue wait: a job's execution_start on its host minus the " +
      "run's first execution_start (every job is available from the start), from the hosts' `/history`.",
    "",
    ...table,
    "",
    "What each host ran, in order (checkpoint × consecutive jobs):",
    "",
    `| workload | dispatcher | ${SPEEDS.map((sp, i) => `host ${i} (${sp}×)`).join(" | ")} |`,
    `|---|---|${SPEEDS.map(() => "---").join("|")}|`,
    ...o.results.flatMap(({ workload, runs }) =>
      runs.filter((m) => m.run).map((m) => `| ${workload.name} | ${m.name} | ${m.lanes.join(" | ")} |`),
    ),
  ].join("\n");
  return { rows, details };
}
