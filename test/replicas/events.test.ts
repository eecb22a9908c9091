// Events reach subscribers on every replica: a client on replica A following a job that replica B runs sees
// every event in seq order, from a snapshot, by WebSocket and SSE; `?wait` on A answers with the finished
// job. A drives no host (it knows the simulator, disabled), so everything runs on B.
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { api, eventually, submit } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type ReplicaSet, replicaSet, startReplica } from "../helpers/replicas.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

type Msg = any;

class Client {
  readonly messages: Msg[] = [];
  private waiters = new Set<() => void>();

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (!isBinary) this.messages.push(JSON.parse(data.toString()));
      for (const w of this.waiters) w();
    });
  }

  static async open(base: string): Promise<Client> {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return new Client(ws);
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  until(pred: (m: Msg) => boolean, what: string, timeoutMs = 15_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.messages.find(pred);
        if (hit === undefined) return;
        this.waiters.delete(check);
        clearTimeout(timer);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${what}; got ${JSON.stringify(this.messages.map((m) => m.type))}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  of(id: string): Msg[] {
    return this.messages.filter((m) => m.job_id === id);
  }

  close(): void {
    this.ws.terminate();
  }
}

const isEnd = (id: string) => (m: Msg) =>
  m.job_id === id && ["job.completed", "job.failed", "job.cancelled"].includes(m.type);
const stateTypes = (msgs: Msg[]) => msgs.filter((m) => m.type !== "job.progress").map((m) => m.type);
const LIFE = ["job.queued", "job.dispatched", "job.running", "job.output", "job.completed"];
const txt2img = (prompt: string) => ({
  workflow_id: "txt2img_basic",
  parameters: { prompt, steps: 5, width: 64, height: 64 },
});

function expectIncreasingSeq(msgs: Msg[]): void {
  const seqs = msgs.map((m) => m.seq as number);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]!);
}

let sim: Simulator;
let set: ReplicaSet;
let a: RunningOrchestrator;
let b: RunningOrchestrator;
const clients: Client[] = [];
const open = async (base: string) => {
  const c = await Client.open(base);
  clients.push(c);
  return c;
};

/** Runs `fn` with B's host disabled, so jobs submitted inside stay queued until it returns. */
async function whileHeld<T>(fn: () => Promise<T>): Promise<T> {
  expect((await api(b.url, "POST", "/api/backends/sim/disable")).status).toBe(200);
  try {
    return await fn();
  } finally {
    await api(b.url, "POST", "/api/backends/sim/enable");
  }
}

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 5 });
  set = await replicaSet({ backends: [{ id: "sim", url: sim.url }] });
  b = await startReplica(set, "b");
  a = await startOrchestrator({
    ...set.config,
    // Another id: until host leases, two replicas watching one host under one id would share its client id.
    backends: [{ id: "sim-watch", url: sim.url, enabled: false }],
    dir: makeTestDir(),
    overrides: { ha: { replica_id: "a" } },
  });
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await sim?.close();
});

describe("a WebSocket client on a replica that does not run the job", () => {
  it("sees its whole life in order, with the same global seq numbers as a client on the replica running it", async () => {
    const onA = await open(a.url);
    const onB = await open(b.url);
    for (const c of [onA, onB]) {
      c.send({ type: "subscribe", all: true });
      await c.until((m) => m.type === "subscribed", "subscribe ack");
    }
    const id = await submit(a.url, txt2img("a lighthouse"));
    await onA.until(isEnd(id), "job end on A");
    await onB.until(isEnd(id), "job end on B");

    const msgs = onA.of(id);
    expect(stateTypes(msgs)).toEqual(LIFE);
    expectIncreasingSeq(msgs);
    expect(msgs.find((m) => m.type === "job.dispatched")).toMatchObject({ backend_id: "sim", attempt: 1 });
    const sampler = msgs.filter(
      (m) => m.type === "job.progress" && m.node_title === "KSampler" && m.max === 5,
    );
    expect(sampler.map((m) => m.value)).toEqual([1, 2, 3, 4, 5]);
    // Output links point at the replica the client asked (outputs live in the shared data_dir).
    const output = msgs.find((m) => m.type === "job.output");
    expect(output.url.startsWith(a.url)).toBe(true);
    expect((await fetch(output.url)).status).toBe(200);
    // One stream: both replicas hand out the same events under the same numbers.
    expect(onB.of(id).map((m) => [m.type, m.seq])).toEqual(msgs.map((m) => [m.type, m.seq]));
  });

  it("following one job from its snapshot gets every later event, each newer than the snapshot", async () => {
    const watcher = await open(a.url);
    watcher.send({ type: "subscribe", all: true });
    await watcher.until((m) => m.type === "subscribed", "subscribe ack");
    const { id, c } = await whileHeld(async () => {
      const id = await submit(a.url, txt2img("a harbour"));
      // Once A has handed out the job's queued event, a snapshot reflects it.
      await watcher.until((m) => m.job_id === id && m.type === "job.queued", "queued on A");
      const c = await open(a.url);
      c.send({ type: "subscribe", job_ids: [id] });
      await c.until((m) => m.type === "subscribed", "subscribe ack");
      return { id, c };
    });
    await c.until(isEnd(id), "job end");
    const msgs = c.of(id);
    expect(msgs[0]).toMatchObject({ type: "job.snapshot", job: { status: "queued" } });
    expect(stateTypes(msgs)).toEqual(["job.snapshot", ...LIFE.slice(1)]);
    expectIncreasingSeq(msgs);
  });

  it("subscribing to everything lists the running jobs as snapshots first", async () => {
    const id = await whileHeld(async () => {
      const id = await submit(a.url, txt2img("a mill"));
      const c = await open(a.url);
      c.send({ type: "subscribe", all: true });
      await c.until((m) => m.type === "subscribed", "subscribe ack");
      const snap = c.messages.find((m) => m.type === "job.snapshot" && m.job_id === id);
      expect(snap?.job.status).toBe("queued");
      return id;
    });
    await eventually(async () => (await api(a.url, "GET", `/api/job/${id}`)).body.status === "completed");
  });
});

describe("on a replica that does not run the job", () => {
  it("POST /api/job?wait answers with the finished job", async () => {
    const started = Date.now();
    const r = await api(a.url, "POST", "/api/job?wait=20", {
      workflow_id: "invert_image",
      parameters: { width: 9, height: 9 },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: "completed", backend_id: "sim" });
    expect(r.body.outputs.length).toBeGreaterThan(0);
    // Answered by the job's end as A heard of it, not by the wait running out.
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it("GET /api/job/:id/events streams it from its snapshot to completed, then ends", async () => {
    const { id, res } = await whileHeld(async () => {
      const id = await submit(a.url, txt2img("a bridge"));
      const watcher = await open(a.url);
      watcher.send({ type: "subscribe", job_ids: [id] });
      await watcher.until((m) => m.type === "job.snapshot", "snapshot");
      await eventually(async () => (await api(a.url, "GET", `/api/job/${id}`)).body.status === "queued");
      const res = await fetch(`${a.url}/api/job/${id}/events`);
      expect(res.status).toBe(200);
      return { id, res };
    });
    const text = await res.text();
    const events = text
      .split("\n\n")
      .filter((block) => block.includes("data:"))
      .map((block) => {
        const fields: Record<string, string> = {};
        for (const line of block.split("\n")) {
          const i = line.indexOf(":");
          if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1).trimStart();
        }
        return { id: fields.id, event: fields.event, data: JSON.parse(fields.data!) };
      });
    const types = events.filter((e) => e.event !== "job.progress").map((e) => e.event);
    expect(types[0]).toBe("job.snapshot");
    expect(types.slice(-4)).toEqual(LIFE.slice(1));
    for (const e of events) {
      expect(e.data.job_id).toBe(id);
      expect(e.id).toBe(String(e.data.seq));
    }
    expectIncreasingSeq(events.slice(1).map((e) => e.data));
    expect(events[1]!.data.seq).toBeGreaterThan(events[0]!.data.seq);
  });
});

describe("the shared event log", () => {
  it("loses no event when its connections drop mid-job: appends are retried, the tail reads on", async () => {
    const onA = await open(a.url);
    onA.send({ type: "subscribe", all: true });
    await onA.until((m) => m.type === "subscribed", "subscribe ack");
    const db = new pg.Client({ connectionString: set.databaseUrl });
    await db.connect();
    try {
      const id = await submit(a.url, {
        workflow_id: "txt2img_basic",
        parameters: { prompt: "a storm", steps: 40, width: 64, height: 64 },
      });
      await onA.until((m) => m.job_id === id && m.type === "job.progress", "first progress");
      const cut = await db.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()
           AND application_name IN ('orchestrator-events', 'orchestrator-listen')`,
      );
      expect(cut.rowCount).toBeGreaterThan(0);
      await onA.until(isEnd(id), "job end", 20_000);
      const msgs = onA.of(id);
      expect(stateTypes(msgs)).toEqual(LIFE);
      expectIncreasingSeq(msgs);
      const sampler = msgs.filter(
        (m) => m.type === "job.progress" && m.node_title === "KSampler" && m.max === 40,
      );
      expect(sampler.map((m) => m.value)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    } finally {
      await db.end();
    }
  });

  it("loses its old rows to a sweep, keeps the recent ones, and a new replica starts at its end", async () => {
    const db = new pg.Client({ connectionString: set.databaseUrl });
    await db.connect();
    try {
      // Everything so far counts as an hour old; one recent row follows it.
      const aged = await db.query(
        "UPDATE job_events SET created_at = now() - interval '1 hour' RETURNING seq",
      );
      expect(aged.rowCount).toBeGreaterThan(0);
      const recent = await db.query(
        `INSERT INTO job_events (type, job_id, ts, data) VALUES ('job.queued', 'recent', '', '{}')
         RETURNING seq::int`,
      );
      const c = await startOrchestrator({
        ...set.config,
        backends: [],
        dir: makeTestDir(),
        overrides: { ha: { replica_id: "c" } },
      });
      try {
        await eventually(
          async () =>
            (await db.query("SELECT seq::int FROM job_events")).rows.map((r) => r.seq).join() ===
            String(recent.rows[0].seq),
          5000,
          "only the recent row left",
        );
        // C's clients start after everything already in the log: their snapshots cover it.
        const onC = await open(c.url);
        onC.send({ type: "subscribe", all: true });
        await onC.until((m) => m.type === "subscribed", "subscribe ack");
        const id = await submit(a.url, { workflow_id: "invert_image", parameters: { width: 7, height: 7 } });
        expect((await onC.until(isEnd(id), "job end on C")).type).toBe("job.completed");
        const events = onC.messages.filter((m) => m.type !== "job.snapshot" && m.type !== "subscribed");
        expect(events.length).toBeGreaterThan(0);
        for (const m of events) expect(m.seq).toBeGreaterThan(recent.rows[0].seq);
      } finally {
        await c.stop();
      }
    } finally {
      await db.end();
    }
  });
});
