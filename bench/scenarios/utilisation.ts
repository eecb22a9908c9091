// Scenario 3, utilisation: four hosts of different speeds (sampler step 1×, 1×, 2×, 4× the base), one
// workload of mixed-length jobs, run three ways on the same hosts: through Orchestrator, through a naive
// round-robin dispatcher, and through @saintno/comfyui-sdk's ComfyPool. Makespan is compared with the
// ideal (total work ÷ total speed); idle gaps come from the hosts' own execution timestamps.
import { runComfyPool } from "../baselines/comfy-pool.js";
import { type DispatchRun, runRoundRobin } from "../baselines/round-robin.js";
import { busyMs, hostIntervals, type Interval, idleGaps } from "../lib/host-timeline.js";
import { getJson, postJson } from "../lib/http.js";
import { startOrchestrator, waitBackendsOnline } from "../lib/orchestrator-process.js";
import { fmt, type Row, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { type SimHost, startSimHosts } from "../lib/sim-host.js";
import { percentile, sum } from "../lib/stats.js";
import { mixedJobs, type Txt2ImgJob, txt2imgManifest } from "../lib/workload.js";

const SLOWDOWN = [1, 1, 2, 4];
const STEP_CHOICES = [4, 8, 16, 32];

interface Measured {
  name: string;
  run: DispatchRun | null;
  error?: string;
  perHost: Interval[][];
  /** Ideal makespan from the hosts' measured busy time, ms. */
  idealMs: number;
}

export async function utilisation(ctx: RunContext): Promise<ScenarioResult> {
  const n = ctx.quick ? 48 : 400;
  const repeats = ctx.quick ? 1 : 3;
  const baseStepMs = ctx.quick ? 4 : 10;
  const jobs = mixedJobs(n, STEP_CHOICES, 42);
  const speeds = SLOWDOWN.map((s) => 1 / s);
  const nominalIdealMs = (sum(jobs.map((j) => j.steps)) * baseStepMs) / sum(speeds);
  const hosts = await startSimHosts(
    SLOWDOWN.map((s, i) => ({ name: `util${i}-${s}x`, stepMs: baseStepMs * s, nodeMs: 0 })),
  );
  try {
    const urls = hosts.map((h) => h.url);
    // Orchestrator and ComfyPool alternate over the repeats and the median repeat is reported; round-robin
    // runs once: it is far off and mostly waits on its slowest host.
    const orchRuns: Measured[] = [];
    const poolRuns: Measured[] = [];
    for (let r = 0; r < repeats; r++) {
      ctx.log(
        `utilisation: ${n} jobs (nominal ideal ${fmt(nominalIdealMs / 1000)} s), repeat ${r + 1}/${repeats}: Orchestrator`,
      );
      orchRuns.push(await measure("Orchestrator", hosts, speeds, () => runOrchestrator(ctx, hosts, jobs)));
      ctx.log(`utilisation: repeat ${r + 1}/${repeats}: ComfyPool`);
      poolRuns.push(
        await measure("ComfyPool", hosts, speeds, () =>
          runComfyPool(urls, jobs, Math.max(60_000, 6 * nominalIdealMs)),
        ),
      );
    }
    ctx.log("utilisation: round-robin");
    const rr = await measure("round-robin", hosts, speeds, () => runRoundRobin(urls, jobs));
    return report({ n, baseStepMs, nominalIdealMs, orchRuns, poolRuns, rr, hosts });
  } finally {
    for (const h of hosts) await h.stop();
  }
}

const factor = (m: Measured) => (m.run ? m.run.makespanMs / m.idealMs : Number.NaN);

/** The repeat with the median makespan ÷ ideal (a failed repeat only if all failed). */
function medianRun(runs: Measured[]): Measured {
  const ok = runs.filter((m) => m.run).sort((a, b) => factor(a) - factor(b));
  return ok.length ? ok[(ok.length - 1) >> 1]! : runs[0]!;
}

async function measure(
  name: string,
  hosts: SimHost[],
  speeds: number[],
  go: () => Promise<DispatchRun>,
): Promise<Measured> {
  let run: DispatchRun;
  try {
    run = await go();
  } catch (err) {
    return {
      name,
      run: null,
      error: (err instanceof Error ? err.message : String(err)).split("\n")[0]!.slice(0, 200),
      perHost: [],
      idealMs: Number.NaN,
    };
  }
  const perHost = await Promise.all(hosts.map((h) => hostIntervals(h.url, run.promptIds)));
  // Work in base-speed milliseconds, as the hosts really spent it (timer overshoot and per-prompt costs
  // included), spread over the total speed: the makespan of a perfect, infinitely divisible schedule.
  const workMs = sum(perHost.map((iv, i) => busyMs(iv) * speeds[i]!));
  return { name, run, perHost, idealMs: workMs / sum(speeds) };
}

async function runOrchestrator(ctx: RunContext, hosts: SimHost[], jobs: Txt2ImgJob[]): Promise<DispatchRun> {
  const orch = await startOrchestrator({
    name: "utilisation",
    backends: hosts.map((h) => ({ id: h.name, url: h.url })),
    profileDir: ctx.profileDir,
  });
  try {
    await waitBackendsOnline(
      orch,
      hosts.map((h) => h.name),
    );
    const t0 = performance.now();
    // Submitted in order by a few clients, as a batch producer would; all are queued within a fraction of a second.
    let next = 0;
    const submitter = async () => {
      for (let i = next++; i < jobs.length; i = next++) {
        const r = await postJson(`${orch.url}/api/job`, txt2imgManifest(jobs[i]!));
        if (r.status !== 202)
          throw new Error(`submit failed: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
      }
    };
    await Promise.all(Array.from({ length: 4 }, submitter));
    const submittedMs = performance.now() - t0;
    for (;;) {
      const h = await getJson<{ jobs: { queued: number; running: number } }>(`${orch.url}/api/health`);
      if (h.body.jobs.queued === 0 && h.body.jobs.running === 0) break;
      if (performance.now() - t0 > 600_000)
        throw new Error("Orchestrator did not finish the workload in 10 minutes");
      await new Promise((r) => setTimeout(r, 20));
    }
    const makespanMs = performance.now() - t0;
    const promptIds = new Set<string>();
    let failures = 0;
    let cursor: string | null = null;
    do {
      const page: {
        body: {
          jobs: { status: string; prompt_id: string | null; outputs: unknown[] }[];
          next_cursor: string | null;
        };
      } = await getJson(`${orch.url}/api/jobs?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
      for (const j of page.body.jobs) {
        if (j.status !== "completed" || j.outputs.length === 0) failures++;
        if (j.prompt_id) promptIds.add(j.prompt_id);
      }
      cursor = page.body.next_cursor;
    } while (cursor);
    return {
      makespanMs,
      promptIds,
      failures,
      note: `all ${jobs.length} submitted after ${fmt(submittedMs / 1000, 2)} s`,
    };
  } finally {
    await orch.stop();
  }
}

function report(o: {
  n: number;
  baseStepMs: number;
  nominalIdealMs: number;
  orchRuns: Measured[];
  poolRuns: Measured[];
  rr: Measured;
  hosts: SimHost[];
}): ScenarioResult {
  const orch = medianRun(o.orchRuns);
  const pool = medianRun(o.poolRuns);
  const rr = o.rr;
  const gaps = (m: Measured) => m.perHost.flatMap(idleGaps);
  const figure = (m: Measured) =>
    m.run
      ? `${fmt(factor(m), 3)}× ideal (${fmt(m.run.makespanMs / 1000)} s)${m.run.failures ? `, ${m.run.failures} failed` : ""}`
      : `n/a (${m.error})`;
  const baselineName = (m: Measured) => (m.run ? `${figure(m)} (${m.name})` : `n/a: ${m.name} ${m.error}`);
  const aheadOf = (b: Measured) => !b.run || (orch.run !== null && orch.run.makespanMs < b.run.makespanMs);
  const makespanMet =
    orch.run !== null && orch.run.failures === 0 && factor(orch) <= 1.05 && aheadOf(rr) && aheadOf(pool);
  const what = `4 hosts ${SLOWDOWN.map((s) => `${s}×`).join(", ")}; ${o.n} mixed jobs`;
  const rows: Row[] = [rr, pool].map((b) => ({
    scenario: "3 Utilisation",
    metric: `makespan vs ideal (${what}) — vs ${b.name}`,
    value: figure(orch),
    baseline: baselineName(b),
    ratio: orch.run && b.run ? ratio(orch.run.makespanMs, b.run.makespanMs) : null,
    target: "≤ 1.05× ideal, ahead of both baselines",
    met: orch.run ? makespanMet : null,
  }));
  for (const p of [50, 99]) {
    const og = percentile(gaps(orch), p);
    const pg = percentile(gaps(pool), p);
    rows.push({
      scenario: "3 Utilisation",
      metric: `host idle gap between prompts, p${p} (hosts' own timestamps)`,
      value: orch.run ? `${fmt(og)} ms` : "n/a",
      baseline: pool.run
        ? `${fmt(pg)} ms (ComfyPool); round-robin ${fmt(percentile(gaps(rr), p))} ms`
        : `n/a (ComfyPool); round-robin ${fmt(percentile(gaps(rr), p))} ms`,
      ratio: orch.run && pool.run ? ratio(og, pg) : null,
      target: p === 50 ? "≤ 5 ms" : "— (none set)",
      met: p === 50 && orch.run ? og <= 5 : null,
    });
  }

  const hostRow = (m: Measured) => {
    const first = Math.min(...m.perHost.flatMap((iv) => iv.map((x) => x.start)));
    return m.perHost.map((iv, i) => {
      const g = idleGaps(iv);
      const at = (ms: number) => fmt((ms - first) / 1000, 2);
      // When the long gaps happened says why: during the submit burst, or later.
      const long = iv.slice(1).filter((x, k) => x.start - iv[k]!.end > 10);
      const longText = long.length ? `${long.length}, last at ${at(long[long.length - 1]!.start)} s` : "0";
      return `| ${m.name} | ${o.hosts[i]!.name} | ${iv.length} | ${fmt(busyMs(iv) / 1000)} s | ${fmt(percentile(g, 50))} | ${fmt(percentile(g, 99))} | ${fmt(g.length ? Math.max(...g) : Number.NaN)} | ${longText} | ${iv.length ? at(iv[iv.length - 1]!.end) : "n/a"} s |`;
    });
  };
  const details = [
    "### 3 Utilisation",
    `Hosts: sampler step ${SLOWDOWN.map((s) => `${o.baseStepMs * s} ms`).join(", ")}; ${o.n} txt2img jobs of ${STEP_CHOICES.join("/")} steps ` +
      `(drawn with a fixed seed, identical for every run), 64×64 outputs. Makespan: first submit until every job is ` +
      "done with its output pulled off the host (Orchestrator: `/api/health` shows nothing queued or running, polled every 20 ms). " +
      "Ideal: the work the hosts actually did (their busy time × their speed) ÷ total speed (1 + 1 + ½ + ¼); " +
      `nominal ideal from step counts alone: ${fmt(o.nominalIdealMs / 1000)} s. Idle gap: next prompt's execution_start − ` +
      "previous prompt's execution_success on the same host, from `/history`. Round-robin queues every job on its host at " +
      "once, so its gaps are ~0 until a host runs dry and then it idles to the end (not counted as a gap).",
    "",
    ...[o.orchRuns, o.poolRuns, [rr]].map(
      (runs) =>
        `- ${runs[0]!.name}: ${runs
          .map((m) =>
            m.run
              ? `makespan ${fmt(m.run.makespanMs / 1000, 2)} s, ideal ${fmt(m.idealMs / 1000, 2)} s (${fmt(factor(m), 3)}×), ${m.run.failures} failed${m.run.note ? `, ${m.run.note}` : ""}`
              : `n/a: ${m.error}`,
          )
          .join("; ")}`,
    ),
    "",
    `The table shows the median repeat of each${o.orchRuns.length > 1 ? "" : " (one repeat with --quick)"}.`,
    "",
    "Times below are on the hosts' clock, from the run's first execution_start.",
    "",
    "| run | host | prompts | busy | gap p50 ms | gap p99 ms | gap max ms | gaps > 10 ms | last prompt ended |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ...hostRow(orch),
    ...hostRow(rr),
    ...hostRow(pool),
  ].join("\n");
  return { rows, details };
}
