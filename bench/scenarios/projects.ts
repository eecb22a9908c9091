// Scenario 6, projects: 12 three-stage pipelines (txt2img → scale → scale) on three hosts of different
// speeds, run two ways on the same hosts: as 12 projects (one POST each, Orchestrator chains the stages)
// and by a client that chains them itself through the single-job API (stage 2 submitted when stage 1 is
// done, all 12 pipelines in flight at once, as with projects). Makespan against the ideal (the hosts' work
// ÷ their total speed) and the time to the first finished pipeline.
import { busyMs, hostIntervals } from "../lib/host-timeline.js";
import { getJson, postJson } from "../lib/http.js";
import {
  type OrchestratorProcess,
  startOrchestrator,
  waitBackendsOnline,
} from "../lib/orchestrator-process.js";
import { fmt, type Row, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { type SimHost, startSimHosts } from "../lib/sim-host.js";
import { sum } from "../lib/stats.js";

const SPEEDS = [1, 0.7, 0.45];
const PIPELINES = 12;

interface Job {
  status: string;
  prompt_id: string | null;
  outputs: { filename: string }[];
  nodes: { prompt_id: string | null; status: string }[];
}

interface Measured {
  name: string;
  makespanMs: number;
  firstMs: number;
  idealMs: number;
  failures: number;
  /** Per host: prompts run, busy seconds, idle seconds between its first start and the last end anywhere. */
  hosts: string[];
}

const stage1 = (i: number, steps: number) => ({
  workflow_id: "txt2img_basic",
  parameters: { prompt: `shot ${i}`, steps, width: 64, height: 64, seed: i },
});
const scaleParams = (image: unknown, w: number) => ({ image, width: w, height: w });

export async function projects(ctx: RunContext): Promise<ScenarioResult> {
  const steps = ctx.quick ? 4 : 10;
  const base = { stepMs: ctx.quick ? 10 : 20, nodeMs: ctx.quick ? 15 : 40 };
  const hosts = await startSimHosts(
    SPEEDS.map((speed, i) => ({ name: `proj${i}-${speed}x`, ...base, speed })),
  );
  try {
    ctx.log(`projects: ${PIPELINES} pipelines as projects`);
    const asProjects = await run(ctx, "projects", hosts, (url) => runProjects(url, steps));
    ctx.log(`projects: ${PIPELINES} pipelines chained by the client`);
    const chained = await run(ctx, "client-chained", hosts, (url) => runChained(url, steps));
    return report(asProjects, chained, steps, base);
  } finally {
    for (const h of hosts) await h.stop();
  }
}

async function run(
  ctx: RunContext,
  name: string,
  hosts: SimHost[],
  go: (url: string) => Promise<{ makespanMs: number; firstMs: number; jobs: Job[] }>,
): Promise<Measured> {
  const orch: OrchestratorProcess = await startOrchestrator({
    name: `projects-${name}`,
    backends: hosts.map((h) => ({ id: h.name, url: h.url })),
    profileDir: ctx.profileDir,
  });
  try {
    await waitBackendsOnline(
      orch,
      hosts.map((h) => h.name),
    );
    const r = await go(orch.url);
    const ids = new Set(
      r.jobs.flatMap((j) => [j.prompt_id, ...j.nodes.map((n) => n.prompt_id)]).filter((p) => p !== null),
    ) as Set<string>;
    const perHost = await Promise.all(hosts.map((h) => hostIntervals(h.url, ids)));
    const workMs = sum(perHost.map((iv, i) => busyMs(iv) * SPEEDS[i]!));
    const first = Math.min(...perHost.flatMap((iv) => iv.map((x) => x.start)));
    const last = Math.max(...perHost.flatMap((iv) => iv.map((x) => x.end)));
    const hostLines = perHost.map(
      (iv, i) =>
        `${hosts[i]!.name}: ${iv.length} prompts, busy ${fmt(busyMs(iv) / 1000, 2)} s, idle ${fmt((last - first - busyMs(iv)) / 1000, 2)} s, last end at ${fmt(((iv.at(-1)?.end ?? first) - first) / 1000, 2)} s`,
    );
    return {
      name,
      makespanMs: r.makespanMs,
      firstMs: r.firstMs,
      idealMs: workMs / sum(SPEEDS),
      failures: r.jobs.filter((j) => j.status !== "completed").length,
      hosts: hostLines,
    };
  } finally {
    await orch.stop();
  }
}

async function submit(url: string, body: unknown): Promise<string> {
  const r = await postJson<{ job_id: string }>(`${url}/api/job`, body);
  if (r.status !== 202) throw new Error(`submit failed: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body.job_id;
}

const getJob = async (url: string, id: string) => (await getJson<Job>(`${url}/api/job/${id}`)).body;
const ended = (j: Job) => j.status === "completed" || j.status === "failed" || j.status === "cancelled";

async function runProjects(url: string, steps: number) {
  const t0 = performance.now();
  const ids = await Promise.all(
    Array.from({ length: PIPELINES }, (_, i) =>
      submit(url, {
        project: {
          nodes: [
            { id: "gen", ...stage1(i, steps) },
            { id: "up", workflow_id: "scale_image", parameters: scaleParams({ from: "gen" }, 96) },
            { id: "final", workflow_id: "scale_image", parameters: scaleParams({ from: "up" }, 128) },
          ],
        },
      }),
    ),
  );
  let firstMs = Number.NaN;
  const done = new Map<string, Job>();
  while (done.size < ids.length) {
    if (performance.now() - t0 > 600_000) throw new Error("projects did not finish in 10 minutes");
    for (const id of ids) {
      if (done.has(id)) continue;
      const j = await getJob(url, id);
      if (!ended(j)) continue;
      done.set(id, j);
      if (Number.isNaN(firstMs)) firstMs = performance.now() - t0;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { makespanMs: performance.now() - t0, firstMs, jobs: [...done.values()] };
}

async function runChained(url: string, steps: number) {
  const t0 = performance.now();
  let firstMs = Number.NaN;
  const jobs: Job[] = [];
  // Each pipeline is its own client loop: submit a stage, wait for it, feed its output to the next.
  const pipeline = async (i: number) => {
    let previous: { id: string; job: Job } | null = null;
    for (const stage of [0, 1, 2]) {
      const body: unknown = previous
        ? {
            workflow_id: "scale_image",
            parameters: scaleParams(
              `job:${previous.id}/${previous.job.outputs[0]!.filename}`,
              stage === 1 ? 96 : 128,
            ),
          }
        : stage1(i, steps);
      const id = await submit(url, body);
      let job = await getJob(url, id);
      while (!ended(job)) {
        if (performance.now() - t0 > 600_000)
          throw new Error("chained pipelines did not finish in 10 minutes");
        await new Promise((r) => setTimeout(r, 10));
        job = await getJob(url, id);
      }
      jobs.push(job);
      if (job.status !== "completed") return;
      previous = { id, job };
    }
    if (Number.isNaN(firstMs)) firstMs = performance.now() - t0;
  };
  await Promise.all(Array.from({ length: PIPELINES }, (_, i) => pipeline(i)));
  return { makespanMs: performance.now() - t0, firstMs, jobs };
}

function report(
  p: Measured,
  c: Measured,
  steps: number,
  base: { stepMs: number; nodeMs: number },
): ScenarioResult {
  const scenario = "8 Projects";
  const what = `${PIPELINES} × txt2img → scale → scale, hosts ${SPEEDS.map((s) => `${s}×`).join(", ")}`;
  const factor = (m: Measured) => m.makespanMs / m.idealMs;
  const rows: Row[] = [
    {
      scenario,
      metric: `makespan vs ideal (${what})`,
      value: `${fmt(factor(p), 3)}× ideal (${fmt(p.makespanMs / 1000, 2)} s)${p.failures ? `, ${p.failures} failed` : ""}`,
      baseline: `${fmt(factor(c), 3)}× ideal (${fmt(c.makespanMs / 1000, 2)} s, client-chained)`,
      ratio: ratio(p.makespanMs, c.makespanMs),
      target: "≤ 1.1× ideal",
      met: p.failures === 0 && factor(p) <= 1.1,
    },
    {
      scenario,
      metric: "time to the first finished pipeline",
      value: `${fmt(p.firstMs / 1000, 2)} s`,
      baseline: `${fmt(c.firstMs / 1000, 2)} s (client-chained)`,
      ratio: ratio(p.firstMs, c.firstMs),
      target: "≥ 2× sooner than client-chained",
      met: p.failures === 0 && p.firstMs * 2 <= c.firstMs,
    },
  ];
  const details = [
    `### ${scenario}`,
    `Hosts: speeds ${SPEEDS.join(", ")} (the simulator's --speed divides step and node times), base sampler step ` +
      `${base.stepMs} ms and ${base.nodeMs} ms per node; stage 1 is txt2img_basic with ${steps} steps at 64×64, stages 2 and 3 ` +
      "scale_image (96 and 128 px). Projects: 12 POSTs at once, each a 3-node project. Client-chained: 12 client loops " +
      "at once, each submitting a stage through the single-job API when the previous one has completed, its output " +
      "passed as `job:<id>/<filename>`. Both poll job status every 10 ms. Ideal: the hosts' busy time × their speed ÷ total " +
      "speed (from the hosts' own /history timestamps).",
    "",
    ...[p, c].map(
      (m) =>
        `- ${m.name}: makespan ${fmt(m.makespanMs / 1000, 2)} s, ideal ${fmt(m.idealMs / 1000, 2)} s (${fmt(factor(m), 3)}×), ` +
        `first pipeline ${fmt(m.firstMs / 1000, 2)} s, ${m.failures} failed; ${m.hosts.join("; ")}`,
    ),
  ].join("\n");
  return { rows, details };
}
