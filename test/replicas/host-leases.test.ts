// Host leases between replicas on one PostgreSQL: the hosts are spread (each replica drives one of two), a job
// submitted to either replica runs, /api/backends is the same on both, health names the hosts each drives; a
// SIGKILLed replica's host is taken over within ha.lease_s + 2 s and its running prompt re-attached (run once,
// never twice at once); a cleanly stopped replica's hosts are taken over at once, and so are a SIGKILLed
// replica's by itself restarted under the same ha.replica_id (without waiting for its leases to expire).
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { api, eventually, submit, waitForJob } from "../helpers/api.js";
import { type ChildOrchestrator, makeTestDir, type RunningOrchestrator } from "../helpers/orchestrator.js";
import { type ReplicaSet, replicaSet, spawnReplica, startReplica } from "../helpers/replicas.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

const LEASE_S = 2;
const sims: Simulator[] = [];
const running: RunningOrchestrator[] = [];
const children: ChildOrchestrator[] = [];
afterAll(async () => {
  for (const c of children) await c.kill("SIGKILL");
  for (const r of running) await r.stop().catch(() => {});
  await Promise.all(sims.map((s) => s.close()));
});

async function hostsAndSet(stepMs: number, leaseS = LEASE_S): Promise<{ set: ReplicaSet; ids: string[] }> {
  const pair = [await startSimulator({ stepMs }), await startSimulator({ stepMs })];
  sims.push(...pair);
  const set = await replicaSet({
    backends: pair.map((s, i) => ({ id: `h${i}`, url: s.url })),
    overrides: { ha: { lease_s: leaseS } },
  });
  writeWorkflow(path.dirname(set.dataDir), "slow", slowWorkflow);
  return { set, ids: ["h0", "h1"] };
}

async function health(url: string) {
  return (await api(url, "GET", "/api/health")).body;
}

/** Waits until each replica drives exactly one host and together they drive both. */
async function spread(urls: string[], timeoutMs = 15_000): Promise<string[][]> {
  return eventually(
    async () => {
      const drives = await Promise.all(urls.map(async (u) => (await health(u)).replica?.drives ?? []));
      const all = drives.flat().sort();
      return drives.every((d) => d.length === 1) && all.join() === "h0,h1" ? drives : null;
    },
    timeoutMs,
    "the hosts spread over the replicas",
  );
}

/** Every prompt a simulator ran or holds for a job (by the job id our extra_data tags it with). */
function promptsOf(jobId: string): { host: number; start?: number; end?: number }[] {
  const out: { host: number; start?: number; end?: number }[] = [];
  sims.forEach((sim, host) => {
    for (const entry of Object.values(sim.history) as {
      prompt: unknown[];
      status?: { messages?: [string, { timestamp?: number }][] };
    }[]) {
      const tag = (entry.prompt[3] as { orchestrator?: { job_id?: string } })?.orchestrator;
      if (tag?.job_id !== jobId) continue;
      const msgs = entry.status?.messages ?? [];
      out.push({
        host,
        start: msgs.find((m) => m[0] === "execution_start")?.[1].timestamp,
        end: msgs[msgs.length - 1]?.[1].timestamp,
      });
    }
  });
  return out;
}

describe("two replicas share two hosts", () => {
  it("spread the hosts, run jobs submitted to either, and answer /api/backends alike", async () => {
    const { set } = await hostsAndSet(2);
    const r1 = await startReplica(set, "r1");
    running.push(r1);
    const r2 = await startReplica(set, "r2");
    running.push(r2);
    const drives = await spread([r1.url, r2.url]);

    for (const [i, r] of [r1, r2].entries()) {
      const h = await health(r.url);
      expect(h.replica).toEqual({ id: `r${i + 1}`, drives: drives[i], replicas: 2 });
      expect(h.database).toBe("ok");
    }

    const jobs = [];
    for (const r of [r1, r2, r1, r2])
      jobs.push({ r, id: await submit(r.url, { workflow_id: "slow", parameters: { steps: 3 } }) });
    for (const { r, id } of jobs) {
      const job = await waitForJob(r.url, id);
      expect(job.status).toBe("completed");
      expect(promptsOf(id)).toHaveLength(1);
    }

    const views = async (url: string) =>
      ((await api(url, "GET", "/api/backends")).body.backends as Record<string, unknown>[]).map((b) => ({
        id: b.id,
        driven_by: b.driven_by,
        status: b.status,
      }));
    const expected = [
      { id: "h0", driven_by: drives[0]!.includes("h0") ? "r1" : "r2", status: "online" },
      { id: "h1", driven_by: drives[0]!.includes("h1") ? "r1" : "r2", status: "online" },
    ];
    await eventually(
      async () => {
        const [a, b] = [await views(r1.url), await views(r2.url)];
        return (
          JSON.stringify(a) === JSON.stringify(expected) && JSON.stringify(b) === JSON.stringify(expected)
        );
      },
      5000,
      "the same /api/backends on both replicas",
    );
    // A host's counters are its driver's, whichever replica answers.
    const one = await api(r2.url, "GET", `/api/backends/${drives[0]![0]}`);
    expect(one.body.driven_by).toBe("r1");

    // A drain asked of the replica that does not drive the host reaches its driver: new work goes elsewhere.
    const r1Host = drives[0]![0]!;
    expect((await api(r2.url, "POST", `/api/backends/${r1Host}/drain`)).status).toBe(200);
    const stateOn = async (url: string) =>
      ((await api(url, "GET", "/api/backends")).body.backends as { id: string; state: string }[]).find(
        (b) => b.id === r1Host,
      )?.state;
    await eventually(
      async () => (await stateOn(r1.url)) === "drained" && (await stateOn(r2.url)) === "drained",
      5000,
      "the drain seen on both replicas",
    );
    const elsewhere = await submit(r1.url, { workflow_id: "slow", parameters: { steps: 2 } });
    const done = await waitForJob(r1.url, elsewhere);
    expect(done.status).toBe("completed");
    expect(done.backend_id).toBe(drives[1]![0]);
    expect((await api(r1.url, "POST", `/api/backends/${r1Host}/enable`)).status).toBe(200);
  }, 60_000);
});

describe("a replica dies while its host runs a prompt", () => {
  it("is taken over within ha.lease_s + 2 s, re-attached, and the job runs exactly once", async () => {
    const { set } = await hostsAndSet(100);
    const r1 = await spawnReplica(set, "r1");
    children.push(r1);
    const r2 = await startReplica(set, "r2");
    running.push(r2);
    const [r1Drives] = await spread([r1.url, r2.url]);
    const victim = r1Drives![0]!;

    // ~6 s of sampling: long enough to outlast the takeover.
    const id = await submit(r1.url, { workflow_id: "slow", parameters: { steps: 60 } });
    const started = await waitForJob(r2.url, id, (j) => j.status === "running", 10_000);
    expect(started.backend_id).toBe(victim);
    await r1.kill("SIGKILL");
    const killedAt = Date.now();

    await eventually(
      async () => ((await health(r2.url)).replica?.drives ?? []).includes(victim),
      (LEASE_S + 2) * 1000,
      "the dead replica's host taken over",
    );
    const takeoverMs = Date.now() - killedAt;
    if (process.env.REPORT_TAKEOVER) console.info(`takeover after SIGKILL: ${takeoverMs} ms`);
    expect(takeoverMs).toBeLessThanOrEqual((LEASE_S + 2) * 1000);

    const job = await waitForJob(r2.url, id, undefined, 20_000);
    expect(job.status).toBe("completed");
    expect(job.attempt).toBe(1);
    expect(job.outputs.length).toBeGreaterThan(0);
    const prompts = promptsOf(id);
    expect(prompts, JSON.stringify(prompts)).toHaveLength(1);
    expect(job.error ?? null).toBeNull();

    const b = (await api(r2.url, "GET", "/api/backends")).body.backends as {
      id: string;
      driven_by: string;
    }[];
    expect(b.map((x) => x.driven_by)).toEqual(["r2", "r2"]);
  }, 60_000);
});

describe("a replica stops cleanly", () => {
  it("hands its hosts back, so another takes them over at once", async () => {
    // A long lease: waiting for it to expire would show.
    const { set } = await hostsAndSet(2, 8);
    const r1 = await startReplica(set, "r1");
    running.push(r1);
    const r2 = await startReplica(set, "r2");
    const [, r2Drives] = await spread([r1.url, r2.url], 30_000);
    const host = r2Drives![0]!;
    // r2 learns how fast its host runs `slow`; r1 must start from that when it takes the host.
    const learned = await submit(r2.url, { workflow_id: "slow", parameters: { steps: 2 } });
    expect((await waitForJob(r2.url, learned)).status).toBe("completed");
    const samples = async (url: string) => {
      const b = (await api(url, "GET", `/api/backends/${host}`)).body as {
        speed?: { workflow_id: string; run_samples: number }[];
      };
      return b.speed?.find((x) => x.workflow_id === "slow")?.run_samples ?? 0;
    };
    await eventually(async () => (await samples(r2.url)) > 0, 5000, "r2 to learn its host's speed");
    const stoppedAt = Date.now();
    await r2.stop();
    await eventually(
      async () => ((await health(r1.url)).replica?.drives ?? []).includes(host),
      4000,
      "the stopped replica's host taken over",
    );
    expect(Date.now() - stoppedAt).toBeLessThan(8000);
    expect((await health(r1.url)).replica).toEqual({ id: "r1", drives: ["h0", "h1"], replicas: 1 });
    expect(await samples(r1.url)).toBeGreaterThan(0);
    const id = await submit(r1.url, { workflow_id: "slow", parameters: { steps: 2 } });
    expect((await waitForJob(r1.url, id)).status).toBe("completed");
  }, 60_000);
});

describe("a replica loses a lease while its host runs a prompt", () => {
  it("detaches without failing or requeueing the job, and the next driver re-attaches", async () => {
    const { set } = await hostsAndSet(100);
    const r1 = await startReplica(set, "r1");
    running.push(r1);
    const r2 = await startReplica(set, "r2");
    running.push(r2);
    const [r1Drives] = await spread([r1.url, r2.url]);
    const host = r1Drives![0]!;
    const id = await submit(r1.url, { workflow_id: "slow", parameters: { steps: 50 } });
    await waitForJob(r1.url, id, (j) => j.status === "running", 10_000);

    // Another holder appears in the database (as after a long partition): r1 must let go of the host.
    const sql = new pg.Client({ connectionString: set.databaseUrl });
    await sql.connect();
    try {
      await sql.query(
        "UPDATE host_leases SET replica_id = 'elsewhere', expires_at = now() + interval '1 hour' WHERE backend_id = $1",
        [host],
      );
      await eventually(
        async () => !((await health(r1.url)).replica?.drives ?? []).includes(host),
        LEASE_S * 1000,
        "r1 to give up the host",
      );
      const held = (await api(r1.url, "GET", `/api/job/${id}`)).body;
      expect(held.status).toBe("running");
      expect(held.attempt).toBe(1);
      const b = (await api(r2.url, "GET", "/api/backends")).body.backends as {
        id: string;
        driven_by: string;
      }[];
      expect(b.find((x) => x.id === host)?.driven_by).toBe("elsewhere");
      // The other holder goes away: one of the replicas takes the host and re-attaches to the prompt.
      await sql.query("DELETE FROM host_leases WHERE backend_id = $1", [host]);
    } finally {
      await sql.end();
    }
    const job = await waitForJob(r1.url, id, undefined, 20_000);
    expect(job.status).toBe("completed");
    expect(job.attempt).toBe(1);
    expect(promptsOf(id)).toHaveLength(1);
  }, 60_000);
});

describe("a replica stalls past its lease while its host runs a prompt", () => {
  it("finds the host taken over when it wakes, and leaves the job's end to the new driver", async () => {
    const { set } = await hostsAndSet(100);
    const r1 = await spawnReplica(set, "r1");
    children.push(r1);
    const r2 = await startReplica(set, "r2");
    running.push(r2);
    const [r1Drives] = await spread([r1.url, r2.url]);
    const host = r1Drives![0]!;
    const id = await submit(r1.url, { workflow_id: "slow", parameters: { steps: 50 } });
    await waitForJob(r2.url, id, (j) => j.status === "running", 10_000);

    // Frozen (as by a long GC pause or a starved machine): r1 neither renews nor notices.
    r1.child.kill("SIGSTOP");
    try {
      await eventually(
        async () => ((await health(r2.url)).replica?.drives ?? []).includes(host),
        (LEASE_S + 2) * 1000,
        "r2 to take the frozen replica's host",
      );
    } finally {
      r1.child.kill("SIGCONT");
    }
    const job = await waitForJob(r2.url, id, undefined, 20_000);
    expect(job.status).toBe("completed");
    expect(job.attempt).toBe(1);
    expect(promptsOf(id)).toHaveLength(1);
    // Awake again, r1 takes its share back: each replica drives one host.
    await spread([r1.url, r2.url]);
  }, 60_000);
});

describe("a job is cancelled through a replica that does not drive its host", () => {
  it("is stopped on its host within a lease round by the replica that drives it", async () => {
    const { set } = await hostsAndSet(100);
    const r1 = await startReplica(set, "r1");
    running.push(r1);
    const r2 = await startReplica(set, "r2");
    running.push(r2);
    const [r1Drives] = await spread([r1.url, r2.url]);
    // ~8 s of sampling if nobody stops it.
    const id = await submit(r1.url, { workflow_id: "slow", parameters: { steps: 80 } });
    const job = await waitForJob(r1.url, id, (j) => j.status === "running", 10_000);
    expect(r1Drives).toContain(job.backend_id);
    const cancelledAt = Date.now();
    expect((await api(r2.url, "POST", `/api/job/${id}/cancel`)).body.status).toBe("cancelled");
    await eventually(() => promptsOf(id)[0]?.end !== undefined, 3000, "the prompt to end on its host");
    expect(Date.now() - cancelledAt).toBeLessThan(3000);
    expect((await api(r1.url, "GET", `/api/job/${id}`)).body.status).toBe("cancelled");
  }, 60_000);
});

describe("fleet changes made through one replica", () => {
  it("reach the others: an added host is driven, a change and a removal hold everywhere", async () => {
    const { set } = await hostsAndSet(2);
    const r1 = await startReplica(set, "r1");
    running.push(r1);
    const r2 = await startReplica(set, "r2");
    running.push(r2);
    const [r1Drives] = await spread([r1.url, r2.url]);
    const list = async (url: string) =>
      ((await api(url, "GET", "/api/backends")).body.backends as Record<string, unknown>[]).map((b) => ({
        id: b.id,
        driven_by: b.driven_by,
        max_inflight: b.max_inflight,
      }));
    const alike = async (what: string, pred: (l: Awaited<ReturnType<typeof list>>) => boolean) =>
      eventually(
        async () => {
          const [a, b] = [await list(r1.url), await list(r2.url)];
          return JSON.stringify(a) === JSON.stringify(b) && pred(a) ? a : null;
        },
        8000,
        what,
      );

    const extra = await startSimulator({ stepMs: 2 });
    sims.push(extra);
    const u = new URL(extra.url);
    const added = await api(r2.url, "POST", "/api/backends", {
      id: "h2",
      host: u.hostname,
      port: Number(u.port),
    });
    expect(added.status).toBe(201);
    const withH2 = await alike("h2 listed and driven on both replicas", (l) =>
      l.some((b) => b.id === "h2" && b.driven_by !== null),
    );
    expect(withH2.map((b) => b.id)).toEqual(["h0", "h1", "h2"]);

    // Changed through the replica that does not drive h0: its driver takes the new limit.
    const h0 = r1Drives!.includes("h0") ? r2 : r1;
    expect((await api(h0.url, "PATCH", "/api/backends/h0", { max_inflight: 1 })).status).toBe(200);
    await alike("h0's new max_inflight on both", (l) => l.find((b) => b.id === "h0")?.max_inflight === 1);

    const h2Driver = withH2.find((b) => b.id === "h2")!.driven_by;
    const other = h2Driver === "r1" ? r2 : r1;
    expect((await api(other.url, "DELETE", "/api/backends/h2")).status).toBeLessThan(300);
    const without = await alike("h2 gone from both replicas", (l) => !l.some((b) => b.id === "h2"));
    expect(without.map((b) => b.id)).toEqual(["h0", "h1"]);
  }, 60_000);
});

describe("a replica restarted under the same ha.replica_id after SIGKILL", () => {
  it("takes its own unexpired leases back at once and re-attaches to the running prompt", async () => {
    // A lease far longer than a restart: waiting for it to expire would fail the bound below.
    const leaseS = 60;
    const { set } = await hostsAndSet(100, leaseS);
    const dir = makeTestDir();
    const first = await spawnReplica(set, "r1", dir);
    children.push(first);
    await eventually(
      async () => ((await health(first.url)).replica?.drives ?? []).length === 2,
      15_000,
      "one replica driving both hosts",
    );
    const id = await submit(first.url, { workflow_id: "slow", parameters: { steps: 40 } });
    await waitForJob(first.url, id, (j) => j.status === "running", 10_000);
    await first.kill("SIGKILL");
    const killedAt = Date.now();

    const again = await spawnReplica(set, "r1", dir);
    children.push(again);
    await eventually(
      async () => ((await health(again.url)).replica?.drives ?? []).join() === "h0,h1",
      15_000,
      "the restarted replica driving its hosts again",
    );
    expect(Date.now() - killedAt).toBeLessThan(leaseS * 1000);
    const job = await waitForJob(again.url, id, undefined, 30_000);
    expect(job.status).toBe("completed");
    expect(job.attempt).toBe(1);
    expect(promptsOf(id)).toHaveLength(1);
  }, 90_000);
});

describe("hosts with a warm-up", () => {
  it("are warmed once, not again each time another replica takes them over", async () => {
    const pair = [await startSimulator({ stepMs: 2 }), await startSimulator({ stepMs: 2 })];
    sims.push(...pair);
    const warmup = { workflow_id: "invert_image", parameters: { width: 8, height: 8 } };
    const set = await replicaSet({
      backends: pair.map((s, i) => ({ id: `w${i}`, url: s.url, warmup })),
      overrides: { ha: { lease_s: LEASE_S } },
    });
    const warmups = (sim: Simulator) =>
      Object.values(sim.history).filter(
        (e) =>
          (e as { prompt: unknown[] }).prompt[3] &&
          "orchestrator_warmup" in ((e as { prompt: unknown[] }).prompt[3] as object),
      ).length;
    const r1 = await startReplica(set, "r1");
    running.push(r1);
    await eventually(() => pair.every((s) => warmups(s) === 1), 10_000, "each host warmed up");
    // r2 joins and r1 hands one host over; then r2 stops and r1 takes that host back.
    const r2 = await startReplica(set, "r2");
    const drives = await eventually(
      async () => {
        const d = (await health(r2.url)).replica?.drives ?? [];
        return d.length === 1 ? d : null;
      },
      15_000,
      "r2 to drive a host",
    );
    // r2 shows the warm-up its host had from r1, and runs none of its own.
    const warmupOn = (await api(r2.url, "GET", `/api/backends/${drives[0]}`)).body;
    expect(warmupOn.driven_by).toBe("r2");
    expect(warmupOn.warmup).toMatchObject({ status: "completed", runs: 1 });
    await r2.stop();
    await eventually(
      async () => ((await health(r1.url)).replica?.drives ?? []).length === 2,
      5000,
      "r1 both",
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(pair.map(warmups)).toEqual([1, 1]);
  }, 60_000);
});
