// Runs a list of jobs through a fresh Orchestrator (its own process and database) on the given hosts:
// submitted by a few clients at once, done when /api/health shows nothing queued or running.
import type { DispatchRun } from "../baselines/round-robin.js";
import { getJson, postJson } from "./http.js";
import { startOrchestrator, waitBackendsOnline } from "./orchestrator-process.js";
import { fmt } from "./report.js";
import type { SimHost } from "./sim-host.js";

export async function runThroughOrchestrator(o: {
  name: string;
  /** Reuse this folder (its database: learned speeds) instead of a fresh one. */
  dir?: string;
  hosts: SimHost[];
  manifests: unknown[];
  overrides?: Record<string, Record<string, unknown>>;
  profileDir?: string;
  timeoutMs?: number;
}): Promise<DispatchRun> {
  const orch = await startOrchestrator({
    name: o.name,
    dir: o.dir,
    backends: o.hosts.map((h) => ({ id: h.name, url: h.url })),
    overrides: o.overrides,
    profileDir: o.profileDir,
  });
  try {
    await waitBackendsOnline(
      orch,
      o.hosts.map((h) => h.name),
    );
    const t0 = performance.now();
    // A reused database holds earlier runs' jobs too: only this run's count.
    const submitted = new Set<string>();
    let next = 0;
    const submitter = async () => {
      for (let i = next++; i < o.manifests.length; i = next++) {
        const r = await postJson<{ job_id: string }>(`${orch.url}/api/job`, o.manifests[i]);
        if (r.status !== 202)
          throw new Error(`submit failed: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
        submitted.add(r.body.job_id);
      }
    };
    await Promise.all(Array.from({ length: 4 }, submitter));
    const submittedMs = performance.now() - t0;
    for (;;) {
      const h = await getJson<{ jobs: { queued: number; running: number } }>(`${orch.url}/api/health`);
      if (h.body.jobs.queued === 0 && h.body.jobs.running === 0) break;
      if (performance.now() - t0 > (o.timeoutMs ?? 600_000))
        throw new Error("Orchestrator did not finish the workload in time");
      await new Promise((r) => setTimeout(r, 20));
    }
    const makespanMs = performance.now() - t0;
    const promptIds = new Set<string>();
    let failures = 0;
    let cursor: string | null = null;
    do {
      const page: {
        body: {
          jobs: { job_id: string; status: string; prompt_id: string | null; outputs: unknown[] }[];
          next_cursor: string | null;
        };
      } = await getJson(`${orch.url}/api/jobs?limit=200${cursor ? `&cursor=${cursor}` : ""}`);
      for (const j of page.body.jobs) {
        if (!submitted.has(j.job_id)) continue;
        if (j.status !== "completed" || j.outputs.length === 0) failures++;
        if (j.prompt_id) promptIds.add(j.prompt_id);
      }
      cursor = page.body.next_cursor;
    } while (cursor);
    return {
      makespanMs,
      promptIds,
      failures,
      note: `all ${o.manifests.length} submitted after ${fmt(submittedMs / 1000, 2)} s`,
    };
  } finally {
    await orch.stop();
  }
}
