// Scenario 1, overhead: what Orchestrator adds to one job's latency. One host, jobs of a fixed ~20 ms
// (txt2img, 4 steps × 5 ms), run one at a time, alternating between Orchestrator (POST /api/job?wait, then
// the output through Orchestrator) and a minimal direct client (POST /prompt, WebSocket, /view), so both
// see the same machine noise. Extra latency = Orchestrator's percentile − the direct client's.
import { DirectComfyClient } from "../lib/comfy-direct.js";
import { hostIntervals } from "../lib/host-timeline.js";
import { drain, postJson } from "../lib/http.js";
import { startOrchestrator, waitBackendsOnline } from "../lib/orchestrator-process.js";
import { fmt, type RunContext, ratio, type ScenarioResult, signed } from "../lib/report.js";
import { startSimHost } from "../lib/sim-host.js";
import { median, percentile } from "../lib/stats.js";
import { fixedJobs, type Txt2ImgJob, txt2imgGraph, txt2imgManifest } from "../lib/workload.js";

const STEPS = 4;
const STEP_MS = 5;

interface JobView {
  status: string;
  prompt_id: string | null;
  outputs: { url: string }[];
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
}

export async function overhead(ctx: RunContext): Promise<ScenarioResult> {
  const n = ctx.quick ? 40 : 200;
  const warmup = ctx.quick ? 5 : 15;
  const host = await startSimHost({ name: "overhead", stepMs: STEP_MS, nodeMs: 0 });
  const orch = await startOrchestrator({
    name: "overhead",
    backends: [{ id: "gpu0", url: host.url }],
    profileDir: ctx.profileDir,
  });
  const direct = new DirectComfyClient(host.url);
  try {
    await waitBackendsOnline(orch, ["gpu0"]);
    await direct.connect();

    const directPrompts = new Set<string>();
    const orchPrompts = new Set<string>();
    const viaDirect = async (j: Txt2ImgJob) => {
      const t0 = performance.now();
      const r = await direct.run(txt2imgGraph(j));
      directPrompts.add(r.promptId);
      const bytes = await direct.fetchOutputs(r);
      if (bytes === 0) throw new Error("direct client: prompt produced no output");
      return performance.now() - t0;
    };
    const viaOrchestrator = async (j: Txt2ImgJob) => {
      const t0 = performance.now();
      const r = await postJson<JobView>(`${orch.url}/api/job?wait=60`, txt2imgManifest(j), 70_000);
      if (r.status !== 200 || r.body.status !== "completed" || r.body.outputs.length === 0) {
        throw new Error(
          `Orchestrator job did not complete with outputs: ${r.status} ${JSON.stringify(r.body).slice(0, 400)}`,
        );
      }
      for (const out of r.body.outputs) await drain(out.url);
      return { ms: performance.now() - t0, view: r.body };
    };

    const jobs = fixedJobs(warmup + n, STEPS, "overhead");
    const d: number[] = [];
    const o: number[] = [];
    ctx.log(`overhead: ${warmup} warm-up + ${n} jobs each way, alternating`);
    const breakdown = { queued: [] as number[], running: [] as number[] };
    for (const [i, job] of jobs.entries()) {
      // Alternate who goes first, so neither side always runs right after the other's leftovers.
      let dv: number;
      let ov: { ms: number; view: JobView };
      if (i % 2 === 0) {
        dv = await viaDirect(job);
        ov = await viaOrchestrator(job);
      } else {
        ov = await viaOrchestrator(job);
        dv = await viaDirect(job);
      }
      if (i < warmup) continue;
      d.push(dv);
      o.push(ov.ms);
      if (ov.view.prompt_id) orchPrompts.add(ov.view.prompt_id);
      const { created_at, started_at, finished_at } = ov.view;
      if (started_at && finished_at) {
        breakdown.queued.push(Date.parse(started_at) - Date.parse(created_at));
        breakdown.running.push(Date.parse(finished_at) - Date.parse(started_at));
      }
    }

    const rows = [50, 99].map((p) => {
      const ov = percentile(o, p);
      const dv = percentile(d, p);
      const extra = ov - dv;
      const limit = p === 50 ? 5 : 25;
      return {
        scenario: "1 Overhead",
        metric: `submit → outputs in hand, p${p} (1 host, ${n} sequential ~20 ms jobs)`,
        value: `${fmt(ov)} ms (${signed(extra)} ms)`,
        baseline: `${fmt(dv)} ms (direct ComfyUI client)`,
        ratio: ratio(ov, dv),
        target: `extra ≤ ${limit} ms`,
        met: extra <= limit,
      };
    });
    const paired = o.map((x, i) => x - d[i]!);
    // The host's own execution time per prompt: the same for both paths, or the comparison is unfair.
    const hostMs = async (ids: Set<string>) =>
      (await hostIntervals(host.url, ids)).map((iv) => iv.end - iv.start);
    const [hostDirect, hostOrch] = [await hostMs(directPrompts), await hostMs(orchPrompts)];
    const details = [
      "### 1 Overhead",
      `Each job: txt2img_basic, ${STEPS} steps × ${STEP_MS} ms on one simulated host, 64×64 output. Orchestrator path: ` +
        "`POST /api/job?wait=60` (returns when the job is completed with its outputs recorded) then a GET of each output " +
        "through Orchestrator; direct path: `POST /prompt` with our prompt id, wait for `execution_success` on the " +
        "WebSocket, GET `/view`. Jobs alternate between the two paths.",
      "",
      `- direct: p50 ${fmt(percentile(d, 50))} ms, p90 ${fmt(percentile(d, 90))} ms, p99 ${fmt(percentile(d, 99))} ms, max ${fmt(Math.max(...d))} ms`,
      `- Orchestrator: p50 ${fmt(percentile(o, 50))} ms, p90 ${fmt(percentile(o, 90))} ms, p99 ${fmt(percentile(o, 99))} ms, max ${fmt(Math.max(...o))} ms`,
      `- on the host (its execution_start → execution_success): median ${fmt(median(hostDirect), 0)} ms for the direct ` +
        `client's prompts, ${fmt(median(hostOrch), 0)} ms for Orchestrator's (the simulator adds ~1 ms per node to the ${STEPS * STEP_MS} ms of sampling)`,
      `- paired difference (Orchestrator − direct, same job index): median ${signed(median(paired))} ms, p90 ${fmt(percentile(paired, 90))} ms`,
      `- inside Orchestrator (its own timestamps, ms resolution): created → running median ${fmt(median(breakdown.queued), 0)} ms, ` +
        `running → completed median ${fmt(median(breakdown.running), 0)} ms`,
    ].join("\n");
    return { rows, details };
  } finally {
    direct.close();
    await orch.stop();
    await host.stop();
  }
}
