// Scenario 4, scale: Orchestrator's resident memory with 100,000 queued jobs, and the time to come back
// after a kill -9 (start until /api/health answers with the full count and GET /api/jobs lists them).
// Baseline: the same process on an empty database, restarts interleaved, medians over repeats.

import { freePort } from "../lib/children.js";
import { getJson } from "../lib/http.js";
import { databasePath, orchestratorDir, startOrchestrator } from "../lib/orchestrator-process.js";
import { fmt, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { peakRssBytes, rssBytes, toMB } from "../lib/rss.js";
import { installDatabase, seededDatabase } from "../lib/seed-jobs.js";
import { median } from "../lib/stats.js";

interface Start {
  /** spawn → /api/health answers. */
  healthMs: number;
  /** spawn → health reports every job queued and the first page lists them. */
  readyMs: number;
  rss: number;
  peak: number;
}

export async function scale(ctx: RunContext): Promise<ScenarioResult> {
  const count = ctx.quick ? 10_000 : 100_000;
  const repeats = ctx.quick ? 0 : 3;
  const seeded = await seededDatabase(count);
  ctx.log(
    `scale: ${count} queued jobs seeded in ${fmt(seeded.seconds)} s; ${Math.max(1, repeats)} restart(s) each`,
  );
  const backends = [{ id: "paused", url: `http://127.0.0.1:${await freePort()}`, enabled: false }];
  const fullDir = orchestratorDir("scale-full");
  installDatabase(seeded, databasePath(fullDir));
  const emptyDir = orchestratorDir("scale-empty");

  const startAndKill = async (dir: string, expected: number): Promise<Start> => {
    const orch = await startOrchestrator({ name: "scale", dir, backends, profileDir: ctx.profileDir });
    try {
      const t0 = performance.now() - orch.startMs;
      for (;;) {
        const h = await getJson<{ jobs: { queued: number } }>(`${orch.url}/api/health`);
        const page = await getJson<{ jobs: unknown[] }>(`${orch.url}/api/jobs?status=queued&limit=200`);
        if (h.body.jobs.queued === expected && page.body.jobs.length === Math.min(200, expected)) break;
        if (performance.now() - t0 > 120_000)
          throw new Error(`jobs not listed after 2 minutes (health ${JSON.stringify(h.body)})`);
        await new Promise((r) => setTimeout(r, 10));
      }
      const readyMs = performance.now() - t0;
      // Let it work a little as it would in service (a few list pages, scheduler ticks), then read its memory.
      let cursor: string | null = null;
      for (let i = 0; i < 5; i++) {
        const page: { body: { next_cursor: string | null } } = await getJson(
          `${orch.url}/api/jobs?limit=200${cursor ? `&cursor=${cursor}` : ""}`,
        );
        cursor = page.body.next_cursor;
      }
      await new Promise((r) => setTimeout(r, 1500));
      return {
        healthMs: orch.startMs,
        readyMs,
        rss: rssBytes(orch.child.pid),
        peak: peakRssBytes(orch.child.pid),
      };
    } finally {
      // Killed, not stopped: the next start is a recovery, as after a crash.
      await orch.kill();
    }
  };

  // The first starts (on the seeded database, and creating the empty one) are warm-ups, not recoveries;
  // --quick counts them instead, to stay short.
  const firstFull = await startAndKill(fullDir, count);
  const firstEmpty = await startAndKill(emptyDir, 0);
  const full: Start[] = ctx.quick ? [firstFull] : [];
  const empty: Start[] = ctx.quick ? [firstEmpty] : [];
  for (let r = 0; r < repeats; r++) {
    full.push(await startAndKill(fullDir, count));
    empty.push(await startAndKill(emptyDir, 0));
  }

  const med = (xs: Start[], f: (s: Start) => number) => median(xs.map(f));
  const rssFull = med(full, (s) => s.rss);
  const rssEmpty = med(empty, (s) => s.rss);
  const readyFull = med(full, (s) => s.readyMs);
  const readyEmpty = med(empty, (s) => s.readyMs);
  const rows = [
    {
      scenario: "4 Scale",
      metric: `Orchestrator RSS with ${fmt(count, 0)} queued jobs`,
      value: `${fmt(toMB(rssFull))} MB`,
      baseline: `${fmt(toMB(rssEmpty))} MB (empty database)`,
      ratio: ratio(rssFull, rssEmpty),
      target: "≤ 300 MB",
      met: toMB(rssFull) <= 300,
    },
    {
      scenario: "4 Scale",
      metric: `restart after kill -9 until health + jobs listed (${fmt(count, 0)} queued)`,
      value: `${fmt(readyFull / 1000, 2)} s`,
      baseline: `${fmt(readyEmpty / 1000, 2)} s (empty database)`,
      ratio: ratio(readyFull, readyEmpty),
      target: "— (none set)",
      met: null,
    },
  ];
  const list = (xs: Start[]) =>
    xs
      .map(
        (s) =>
          `${fmt(s.readyMs / 1000, 2)} s (health after ${fmt(s.healthMs / 1000, 2)} s), RSS ${fmt(toMB(s.rss))} MB, peak ${fmt(toMB(s.peak))} MB`,
      )
      .join("; ");
  const details = [
    "### 4 Scale",
    `${fmt(count, 0)} queued txt2img jobs seeded with JobStore into the database file before Orchestrator starts (see 2); ` +
      "the only host is disabled so they stay queued. Each measurement is a restart after SIGKILL: from spawning " +
      "`src/main.ts` until `/api/health` reports every job queued and `GET /api/jobs?status=queued` lists a full page " +
      "(the time includes Node + tsx start-up, which the empty-database baseline shares). RSS (VmRSS) is read 1.5 s after " +
      `that and five more list pages; peak is VmHWM.${ctx.quick ? " --quick: the first starts are the measurements." : ""}`,
    "",
    `- first start on the seeded database: ${list([firstFull])}`,
    `- restarts, ${fmt(count, 0)} jobs: ${list(full)}`,
    `- restarts, empty database: ${list(empty)}`,
  ].join("\n");
  return { rows, details };
}
