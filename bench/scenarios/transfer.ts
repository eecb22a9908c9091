// Scenario 5, transfer: one 50 MB output (the simulator pads its PNG), downloaded through Orchestrator's
// GET /api/job/:id/outputs/:filename and straight from the host's /view, alternately; throughput, and how
// far each server's RSS rises while it serves the file (a streaming server should barely move).
import { drain, getJson, postJson } from "../lib/http.js";
import { startOrchestrator, waitBackendsOnline } from "../lib/orchestrator-process.js";
import { fmt, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { rssGrowthDuring, toMB } from "../lib/rss.js";
import { startSimHost } from "../lib/sim-host.js";
import { median } from "../lib/stats.js";
import { invertManifest } from "../lib/workload.js";

const MB = 1024 * 1024;

interface JobView {
  status: string;
  prompt_id: string;
  outputs: { url: string; size: number }[];
}

export async function transfer(ctx: RunContext): Promise<ScenarioResult> {
  const size = (ctx.quick ? 8 : 50) * MB;
  const repeats = ctx.quick ? 2 : 5;
  const host = await startSimHost({ name: "transfer", stepMs: 1, nodeMs: 0, outputSizeBytes: size });
  const orch = await startOrchestrator({
    name: "transfer",
    backends: [{ id: "gpu0", url: host.url }],
    profileDir: ctx.profileDir,
  });
  try {
    await waitBackendsOnline(orch, ["gpu0"]);
    ctx.log(`transfer: one ${size / MB} MB output, ${repeats} downloads each way`);
    // Orchestrator pulls the output off the host before the job completes: its RSS during that, for the details.
    const ingest = await rssGrowthDuring(orch.child.pid, () =>
      postJson<JobView>(`${orch.url}/api/job?wait=120`, invertManifest(64), 130_000),
    );
    const job = ingest.result.body;
    const out = job.outputs[0];
    if (ingest.result.status !== 200 || job.status !== "completed" || !out)
      throw new Error(`job did not complete: ${JSON.stringify(job).slice(0, 400)}`);
    const hist = await getJson<
      Record<
        string,
        { outputs: Record<string, { images?: { filename: string; subfolder: string; type: string }[] }> }
      >
    >(`${host.url}/history/${job.prompt_id}`);
    const ref = Object.values(hist.body[job.prompt_id]?.outputs ?? {}).flatMap((o) => o.images ?? [])[0];
    if (!ref) throw new Error("the host's history names no output file");
    const directUrl = `${host.url}/view?${new URLSearchParams({ filename: ref.filename, subfolder: ref.subfolder, type: ref.type })}`;

    // One unmeasured download each way: both files are in the page cache from here on.
    await drain(out.url);
    await drain(directUrl);
    const viaOrch: { mbps: number; growth: number }[] = [];
    const viaHost: { mbps: number; growth: number }[] = [];
    for (let r = 0; r < repeats; r++) {
      const o = await rssGrowthDuring(orch.child.pid, () => drain(out.url));
      const d = await rssGrowthDuring(host.child.pid, () => drain(directUrl));
      if (o.result.bytes !== size || d.result.bytes !== size)
        throw new Error(`short download: ${o.result.bytes} / ${d.result.bytes} of ${size} bytes`);
      viaOrch.push({ mbps: o.result.bytes / MB / (o.result.ms / 1000), growth: o.growthBytes });
      viaHost.push({ mbps: d.result.bytes / MB / (d.result.ms / 1000), growth: d.growthBytes });
    }
    const mbps = (xs: typeof viaOrch) => median(xs.map((x) => x.mbps));
    const growth = (xs: typeof viaOrch) => Math.max(...xs.map((x) => x.growth));
    const rows = [
      {
        scenario: "5 Transfer",
        metric: `download of a ${size / MB} MB output, throughput (median of ${repeats})`,
        value: `${fmt(mbps(viaOrch), 0)} MB/s`,
        baseline: `${fmt(mbps(viaHost), 0)} MB/s (host /view)`,
        ratio: ratio(mbps(viaOrch), mbps(viaHost)),
        target: "— (none set)",
        met: null,
      },
      {
        scenario: "5 Transfer",
        metric: `peak RSS growth while serving it (max of ${repeats})`,
        value: `${fmt(toMB(growth(viaOrch)))} MB`,
        baseline: `${fmt(toMB(growth(viaHost)))} MB (simulated host serving /view)`,
        // A ratio of two near-zero growths says nothing; below 1 MB the baseline is noise.
        ratio: growth(viaHost) >= MB ? ratio(growth(viaOrch), growth(viaHost)) : null,
        target: "≤ 20 MB",
        met: toMB(growth(viaOrch)) <= 20,
      },
    ];
    const list = (xs: typeof viaOrch) =>
      xs.map((x) => `${fmt(x.mbps, 0)} MB/s +${fmt(toMB(x.growth))} MB`).join("; ");
    const details = [
      "### 5 Transfer",
      `The simulated host pads its SaveImage PNG to ${size / MB} MB; an invert_image job makes one, which Orchestrator ` +
        "streams to its disk before the job completes. Downloads alternate between Orchestrator's output URL and the " +
        "host's `/view`, each read to the end and discarded. RSS growth: the highest VmRSS (sampled every 2 ms, and the " +
        "kernel's VmHWM after resetting it) minus VmRSS when the download began.",
      "",
      `- Orchestrator while fetching the output from the host (inside the job): RSS +${fmt(toMB(ingest.growthBytes))} MB from ${fmt(toMB(ingest.startBytes))} MB`,
      `- through Orchestrator: ${list(viaOrch)}`,
      `- straight from the host: ${list(viaHost)}`,
    ].join("\n");
    return { rows, details };
  } finally {
    await orch.stop();
    await host.stop();
  }
}
