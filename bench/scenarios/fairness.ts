// Fairness: key A queues a long batch, then key B submits a few jobs, on two hosts. With fair share B's
// jobs take every other dispatch; the same-run baseline is the same workload under one shared key, where
// the queue is plain FIFO and B's jobs wait behind all of A's.
import { getJson, postJson } from "../lib/http.js";
import {
  type OrchestratorProcess,
  startOrchestrator,
  waitBackendsOnline,
} from "../lib/orchestrator-process.js";
import { fmt, type Row, type RunContext, ratio, type ScenarioResult } from "../lib/report.js";
import { startSimHosts } from "../lib/sim-host.js";
import { percentile } from "../lib/stats.js";
import { txt2imgManifest } from "../lib/workload.js";

const KEY_A = "bench-key-a-0123456789abcdef";
const KEY_B = "bench-key-b-0123456789abcdef";
const ADMIN = "bench-key-admin-0123456789ab";
const B_JOBS = 5;

interface JobRow {
  job_id: string;
  owner: string | null;
  status: string;
  created_at: string;
  started_at: string | null;
}

interface Run {
  /** Queue wait (created → started), ms, per client. */
  waitA: number[];
  waitB: number[];
  /** Positions of B's jobs among the starts after B's first submit (1-based). */
  positions: number[];
}

export async function fairness(ctx: RunContext): Promise<ScenarioResult> {
  const nA = ctx.quick ? 20 : 200;
  const steps = ctx.quick ? 4 : 8;
  const stepMs = ctx.quick ? 4 : 10;
  const hosts = await startSimHosts([0, 1].map((i) => ({ name: `fair${i}`, stepMs, nodeMs: 0 })));
  // One Orchestrator for both runs (each starts on an empty queue): under one key fair share has no one
  // to alternate with, so the second run is the FIFO baseline.
  const orch = await startOrchestrator({
    name: "fairness",
    backends: hosts.map((h) => ({ id: h.name, url: h.url, max_inflight: 1 })),
    profileDir: ctx.profileDir,
    overrides: {
      auth: {
        keys: [
          { id: "admin", key: ADMIN, role: "admin" },
          { id: "a", key: KEY_A, role: "submit" },
          { id: "b", key: KEY_B, role: "submit" },
        ],
        defaults: { rate_limit_per_min: 0, max_queued: 0 },
      },
    },
  });
  try {
    await waitBackendsOnline(
      orch,
      hosts.map((h) => h.name),
      30_000,
      auth(ADMIN),
    );
    ctx.log(`fairness: A queues ${nA}, then B ${B_JOBS}, each key its own (fair share)`);
    const fair = await runOnce(orch, nA, steps, KEY_B);
    ctx.log("fairness: the same under one shared key (FIFO)");
    const fifo = await runOnce(orch, nA, steps, KEY_A);
    return report(nA, fair, fifo);
  } finally {
    await orch.stop();
    for (const h of hosts) await h.stop();
  }
}

const auth = (key: string) => ({ authorization: `Bearer ${key}` });

async function runOnce(orch: OrchestratorProcess, nA: number, steps: number, keyB: string): Promise<Run> {
  const submit = async (key: string, i: number) => {
    const r = await postJson<{ job_id: string }>(
      `${orch.url}/api/job`,
      txt2imgManifest({ prompt: `fair ${i}`, steps, seed: i + 1, width: 64, height: 64 }),
      30_000,
      auth(key),
    );
    if (r.status !== 202)
      throw new Error(`submit failed: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
    return r.body.job_id;
  };
  const idsA: string[] = [];
  for (let i = 0; i < nA; i++) idsA.push(await submit(KEY_A, i));
  const idsB: string[] = [];
  for (let i = 0; i < B_JOBS; i++) idsB.push(await submit(keyB, nA + i));
  const ours = new Set([...idsA, ...idsB]);
  const jobs = new Map<string, JobRow>();
  const t0 = performance.now();
  while (jobs.size < ours.size || [...jobs.values()].some((j) => j.status !== "completed")) {
    if (performance.now() - t0 > 600_000)
      throw new Error("the fairness workload did not finish in 10 minutes");
    await new Promise((r) => setTimeout(r, 100));
    let cursor: string | null = null;
    do {
      const page: { body: { jobs: JobRow[]; next_cursor: string | null } } = await getJson(
        `${orch.url}/api/jobs?limit=200${cursor ? `&cursor=${cursor}` : ""}`,
        30_000,
        auth(ADMIN),
      );
      for (const j of page.body.jobs) if (ours.has(j.job_id)) jobs.set(j.job_id, j);
      cursor = page.body.next_cursor;
    } while (cursor);
  }
  const wait = (id: string) => {
    const j = jobs.get(id)!;
    return Date.parse(j.started_at!) - Date.parse(j.created_at);
  };
  const firstB = Date.parse(jobs.get(idsB[0]!)!.created_at);
  const startsAfterB = [...jobs.values()]
    .filter((j) => j.started_at && Date.parse(j.started_at) >= firstB)
    .sort((a, b) => Date.parse(a.started_at!) - Date.parse(b.started_at!))
    .map((j) => j.job_id);
  return {
    waitA: idsA.map(wait),
    waitB: idsB.map(wait),
    positions: idsB.map((id) => startsAfterB.indexOf(id) + 1),
  };
}

function report(nA: number, fair: Run, fifo: Run): ScenarioResult {
  const p50 = (xs: number[]) => percentile(xs, 50);
  const gaps = fair.positions.map((p, i) => p - (i === 0 ? 0 : fair.positions[i - 1]!));
  const within4 = gaps.every((g) => g >= 1 && g <= 4);
  const s = (ms: number) => `${fmt(ms / 1000, 2)} s`;
  const rows: Row[] = [
    {
      scenario: "6 Fairness",
      metric: `B's ${B_JOBS} jobs' queue wait p50, submitted after A's ${nA} (2 hosts)`,
      value: `${s(p50(fair.waitB))} (A's p50 ${s(p50(fair.waitA))})`,
      baseline: `${s(p50(fifo.waitB))} (one shared key: FIFO)`,
      ratio: ratio(p50(fair.waitB), p50(fifo.waitB)),
      target: "each of B's jobs starts within the next 4 dispatches",
      met: within4,
    },
  ];
  const details = [
    "### 6 Fairness",
    "",
    `Key A submits ${nA} jobs, then key B submits ${B_JOBS}, on 2 hosts taking one prompt each. Fair share`,
    "alternates dispatch between owners at equal priority; the baseline runs the same workload under one key.",
    "",
    `- B's jobs started at positions ${fair.positions.join(", ")} among the starts after B's first submit`,
    `  (gaps ${gaps.join(", ")}); under one key: ${fifo.positions.join(", ")}.`,
    `- Queue wait, fair share: B p50 ${s(p50(fair.waitB))}, max ${s(Math.max(...fair.waitB))}; A p50 ${s(p50(fair.waitA))}.`,
    `- Queue wait, one key (FIFO): B p50 ${s(p50(fifo.waitB))}; A p50 ${s(p50(fifo.waitA))}.`,
  ].join("\n");
  return { rows, details };
}
