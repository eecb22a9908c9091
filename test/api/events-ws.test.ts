// Live job events over WebSocket /api/ws: ordered events with snapshots first, previews on request, many
// subscribers at once, slow and dead consumers that cost the server nothing, and errors for bad messages.
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

type Msg = any;

type Running = RunningOrchestrator;

/** An Orchestrator with the given `events` section, its one backend online. */
async function startWithEvents(
  sim: Simulator,
  events: Record<string, unknown>,
  maxInflight = 2,
): Promise<Running> {
  const orch = await startOrchestrator({
    backends: [{ id: "sim", url: sim.url, max_inflight: maxInflight }],
    overrides: { events },
  });
  await untilHealthy(orch.url);
  return orch;
}

/** The server side of every open /api/ws socket (white-box: only to learn when the server gave up on one). */
const serverSockets = (o: Running) =>
  (o.app as unknown as { server: FastifyInstance }).server.websocketServer.clients;

class Client {
  readonly messages: Msg[] = [];
  readonly frames: Buffer[] = [];
  private waiters: Array<() => void> = [];
  closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data, isBinary) => {
      if (isBinary) this.frames.push(data as Buffer);
      else this.messages.push(JSON.parse(data.toString()));
      for (const w of this.waiters) w();
    });
    this.closed = new Promise((resolve) =>
      ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  static async open(base: string, opts: WebSocket.ClientOptions = {}): Promise<Client> {
    const ws = new WebSocket(`${base.replace(/^http/, "ws")}/api/ws`, opts);
    const c = new Client(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    return c;
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  /** Resolves with the first message (from the start) matching `pred`, waiting for it if need be. */
  until(pred: (m: Msg) => boolean, what = "message"): Promise<Msg> {
    return this.wait(() => this.messages.find(pred), what);
  }

  /** Resolves with the n-th (0-based) message matching `pred`. */
  nth(pred: (m: Msg) => boolean, n: number, what = "message"): Promise<Msg> {
    return this.wait(() => this.messages.filter(pred)[n], what);
  }

  private wait(probe: () => Msg | undefined, what: string, timeoutMs = 15_000): Promise<Msg> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = probe();
        if (hit === undefined) return false;
        this.waiters = this.waiters.filter((w) => w !== waiter);
        clearTimeout(timer);
        resolve(hit);
        return true;
      };
      const waiter = () => void check();
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(
          new Error(
            `no ${what} within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map((m) => m.type))}`,
          ),
        );
      }, timeoutMs);
      if (!check()) this.waiters.push(waiter);
    });
  }

  /** Messages about one job, in arrival order. */
  of(jobId: string): Msg[] {
    return this.messages.filter((m) => m.job_id === jobId);
  }

  close(): void {
    this.ws.terminate();
  }
}

const isEnd = (id: string) => (m: Msg) =>
  m.job_id === id && ["job.completed", "job.failed", "job.cancelled"].includes(m.type);
const stateTypes = (msgs: Msg[]) => msgs.filter((m) => m.type !== "job.progress").map((m) => m.type);

function expectIncreasingSeq(msgs: Msg[]): void {
  const seqs = msgs.filter((m) => typeof m.seq === "number" && m.type !== "job.snapshot").map((m) => m.seq);
  for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBeGreaterThan(seqs[i - 1]);
}

/** Preview frame: 4-byte big-endian header length, JSON header, image bytes. */
function parsePreview(frame: Buffer): { header: Msg; image: Buffer } {
  const n = frame.readUInt32BE(0);
  return { header: JSON.parse(frame.subarray(4, 4 + n).toString()), image: frame.subarray(4 + n) };
}

const tiny = (color = 0) => ({ workflow_id: "invert_image", parameters: { width: 8, height: 8, color } });

let sim: Simulator;
let orch: Running;
const clients: Client[] = [];
const open = async (o: Running = orch, opts?: WebSocket.ClientOptions) => {
  const c = await Client.open(o.url, opts);
  clients.push(c);
  return c;
};

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 5 });
  // Small buffers so that falling behind is cheap to provoke; the default ping (30 s) stays out of the way.
  orch = await startWithEvents(sim, { coalesce_buffer_kb: 16, max_buffer_kb: 256 }, 4);
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

describe("a subscriber", () => {
  it("sees a txt2img job's whole life in order, with increasing seq and percent ending at 100", async () => {
    const c = await open();
    const withPreviews = await open();
    c.send({ type: "subscribe", all: true });
    withPreviews.send({ type: "subscribe", all: true, previews: true });
    await c.until((m) => m.type === "subscribed", "subscribe ack");
    await withPreviews.until((m) => m.type === "subscribed", "subscribe ack");

    const id = await submit(orch.url, {
      workflow_id: "txt2img_basic",
      parameters: { prompt: "a lighthouse", steps: 5, width: 64, height: 64 },
    });
    await c.until(isEnd(id), "job end");
    await withPreviews.until(isEnd(id), "job end");

    const msgs = c.of(id);
    expect(stateTypes(msgs)).toEqual([
      "job.queued",
      "job.dispatched",
      "job.running",
      "job.output",
      "job.completed",
    ]);
    expectIncreasingSeq(msgs);
    for (const m of msgs) {
      expect(m.job_id).toBe(id);
      expect(Number.isNaN(Date.parse(m.ts))).toBe(false);
    }
    expect(msgs.find((m) => m.type === "job.dispatched")).toMatchObject({ backend_id: "sim", attempt: 1 });

    const progress = msgs.filter((m) => m.type === "job.progress");
    const sampler = progress.filter((m) => m.node_title === "KSampler" && m.max === 5);
    expect(sampler.map((m) => m.value)).toEqual([1, 2, 3, 4, 5]);
    for (let i = 1; i < progress.length; i++)
      expect(progress[i].percent).toBeGreaterThanOrEqual(progress[i - 1].percent);
    expect(progress.at(-1).percent).toBeLessThan(100);
    const completed = msgs.at(-1);
    expect(completed.progress.percent).toBe(100);

    const output = msgs.find((m) => m.type === "job.output");
    expect(output).toMatchObject({ node_id: "9", content_type: "image/png" });
    expect(output.url).toBe(`${orch.url}/api/job/${id}/outputs/${encodeURIComponent(output.filename)}`);
    const file = await fetch(output.url);
    expect(file.status).toBe(200);
    expect(Buffer.from(await file.arrayBuffer()).length).toBe(output.size);

    // Previews only for the socket that asked, as binary frames naming the job.
    expect(c.frames).toHaveLength(0);
    expect(withPreviews.frames.length).toBeGreaterThan(0);
    const { header, image } = parsePreview(withPreviews.frames[0]!);
    // Stock hosts render previews as JPEG, and only because the job asked (someone subscribed to them).
    expect(header).toEqual({ type: "job.preview", job_id: id, content_type: "image/jpeg" });
    expect(image.subarray(0, 3).equals(Buffer.from([0xff, 0xd8, 0xff]))).toBe(true);
    expect(stateTypes(withPreviews.of(id))).toEqual(stateTypes(msgs));
  });

  it("that subscribes after the job ended gets its final state and nothing more", async () => {
    const id = await submit(orch.url, tiny());
    await waitForJob(orch.url, id);
    const c = await open();
    c.send({ type: "subscribe", job_ids: [id] });
    const ack = await c.until((m) => m.type === "subscribed", "subscribe ack");
    expect(ack).toMatchObject({ job_ids: [id], previews: false });
    expect(c.messages.map((m) => m.type)).toEqual(["job.snapshot", "subscribed"]);
    const snap = c.messages[0];
    expect(snap.job_id).toBe(id);
    expect(typeof snap.seq).toBe("number");
    expect(snap.job).toMatchObject({ job_id: id, status: "completed", progress: { percent: 100 } });
    expect(snap.job.outputs[0].url).toMatch(new RegExp(`^${orch.url}/api/job/${id}/outputs/`));

    c.send({ type: "unsubscribe", job_ids: [id] });
    expect(await c.until((m) => m.type === "unsubscribed")).toEqual({ type: "unsubscribed", job_ids: [id] });
  });

  it("that subscribes between submit and dispatch gets a snapshot, then the rest, and unsubscribing stops them", async () => {
    await api(orch.url, "POST", "/api/backends/sim/disable");
    try {
      const [a, b] = [await submit(orch.url, tiny(1)), await submit(orch.url, tiny(2))];
      const c = await open();
      c.send({ type: "subscribe", job_ids: [a, b, a] });
      await c.until((m) => m.type === "subscribed");
      expect(
        c.messages.filter((m) => m.type === "job.snapshot").map((m) => [m.job_id, m.job.status]),
      ).toEqual([
        [a, "queued"],
        [b, "queued"],
      ]);
      c.send({ type: "unsubscribe", job_ids: [b] });
      await c.until((m) => m.type === "unsubscribed");
      await api(orch.url, "POST", "/api/backends/sim/enable");
      await c.until(isEnd(a), "job end");
      await waitForJob(orch.url, b);
      // A round trip on the socket: anything sent about b before it would have arrived by now.
      c.send({ type: "unsubscribe", job_ids: [b] });
      await c.nth((m) => m.type === "unsubscribed", 1);
      expect(stateTypes(c.of(a))).toEqual([
        "job.snapshot",
        "job.dispatched",
        "job.running",
        "job.output",
        "job.completed",
      ]);
      expect(stateTypes(c.of(b))).toEqual(["job.snapshot"]);
    } finally {
      await api(orch.url, "POST", "/api/backends/sim/enable");
    }
  });
});

describe("many subscribers", () => {
  it("200 sockets following 50 jobs each get every event of their jobs", async () => {
    // Jobs wait while the host is disabled, so every follower is subscribed before anything runs.
    await api(orch.url, "POST", "/api/backends/sim/disable");
    let ids: string[] = [];
    let subs: Client[] = [];
    try {
      ids = await Promise.all(Array.from({ length: 50 }, (_, i) => submit(orch.url, tiny(i))));
      subs = await Promise.all(Array.from({ length: 200 }, () => open()));
      // Socket i follows 5 jobs; every job has 20 followers.
      for (const [i, c] of subs.entries()) {
        c.send({ type: "subscribe", job_ids: Array.from({ length: 5 }, (_, k) => ids[(i * 5 + k) % 50]) });
      }
      await Promise.all(subs.map((c) => c.until((m) => m.type === "subscribed")));
    } finally {
      await api(orch.url, "POST", "/api/backends/sim/enable");
    }
    const followed = (c: Client): string[] =>
      c.messages.filter((m) => m.type === "job.snapshot").map((m) => m.job_id);
    await Promise.all(subs.flatMap((c) => followed(c).map((id) => c.until(isEnd(id), "job end"))));
    for (const c of subs) {
      expect(followed(c)).toHaveLength(5);
      expectIncreasingSeq(c.messages);
      for (const id of followed(c)) {
        expect(stateTypes(c.of(id))).toEqual([
          "job.snapshot",
          "job.dispatched",
          "job.running",
          "job.output",
          "job.completed",
        ]);
        expect(c.of(id)[0].job.status).toBe("queued");
        expect(c.of(id).at(-1).progress.percent).toBe(100);
      }
    }
    expect(
      new Set(subs.flatMap((c) => c.messages.filter((m) => m.type === "job.completed").map((m) => m.job_id))),
    ).toEqual(new Set(ids));
  });
});

describe("a slow consumer", () => {
  it("that stops reading does not delay other sockets or the jobs, and later gets every state change in order", async () => {
    const healthy = await open();
    const stalled = await open();
    healthy.send({ type: "subscribe", all: true, previews: true });
    stalled.send({ type: "subscribe", all: true, previews: true });
    await healthy.until((m) => m.type === "subscribed");
    await stalled.until((m) => m.type === "subscribed");
    const raw = (stalled.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();

    const ids = [
      await submit(orch.url, {
        workflow_id: "txt2img_basic",
        parameters: { prompt: "a", steps: 40, width: 256, height: 256 },
      }),
      await submit(orch.url, {
        workflow_id: "txt2img_basic",
        parameters: { prompt: "b", steps: 40, width: 256, height: 256 },
      }),
    ];
    for (const id of ids) await healthy.until(isEnd(id), "job end");
    for (const id of ids) expect((await waitForJob(orch.url, id)).status).toBe("completed");
    expect(healthy.frames.length).toBeGreaterThan(0);

    raw.resume();
    for (const id of ids) await stalled.until(isEnd(id), "job end on the stalled socket");
    expectIncreasingSeq(stalled.messages);
    for (const id of ids) {
      // Progress may have been coalesced for the slow socket; state changes never are.
      const states = (c: Client) =>
        c
          .of(id)
          .filter((m) => m.type !== "job.progress")
          .map((m) => m.seq);
      expect(states(stalled)).toEqual(states(healthy));
    }
    // It really stopped reading (a paused socket: the kernel's buffers fill first), so it got only the
    // newest progress and preview of each job above coalesce_buffer_kb, never every one.
    const progress = (c: Client) => c.messages.filter((m) => m.type === "job.progress").length;
    expect(progress(stalled)).toBeLessThan(progress(healthy));
    expect(stalled.frames.length).toBeLessThan(healthy.frames.length);
  });

  it("that falls further behind than max_buffer_kb is disconnected with 1008 while others carry on", async () => {
    // A job whose snapshot is ~60 KB (metadata, within its 64 KiB limit, comes back in the job view); each
    // subscribe resends it.
    const big = await submit(orch.url, { ...tiny(), metadata: { blob: "x".repeat(60 * 1024) } });
    await waitForJob(orch.url, big);
    const healthy = await open();
    const stalled = await open();
    const raw = (stalled.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();
    // ~10 MB of snapshots: more than the kernel's socket buffers plus our 256 KB limit.
    for (let i = 0; i < 160; i++) stalled.send({ type: "subscribe", job_ids: [big] });
    const port = (stalled.ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    const serverSide = () =>
      [...serverSockets(orch)].find(
        (s) => (s as unknown as { _socket: { remotePort: number } })._socket.remotePort === port,
      );
    await eventually(
      () => serverSide()?.readyState === WebSocket.CLOSING,
      15_000,
      "the server to give up on the stalled socket",
    );

    healthy.send({ type: "subscribe", all: true });
    await healthy.until((m) => m.type === "subscribed");
    const id = await submit(orch.url, tiny(7));
    await healthy.until(isEnd(id), "job end");

    raw.resume();
    const closed = await stalled.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toMatch(/too slow/);
    expect(healthy.ws.readyState).toBe(WebSocket.OPEN);
  });
});

describe("client messages", () => {
  it("that are malformed get an error message and the socket stays open", async () => {
    const c = await open();
    const cases: Array<[unknown, string, RegExp]> = [
      ["not json", "MALFORMED_JSON", /not valid JSON/],
      [[1, 2], "VALIDATION_FAILED", /Unknown message type/],
      [{ type: "hello" }, "VALIDATION_FAILED", /Unknown message type "hello"/],
      [{ type: "subscribe" }, "VALIDATION_FAILED", /job_ids/],
      [{ type: "subscribe", job_ids: "abc" }, "VALIDATION_FAILED", /message\.job_ids/],
      [{ type: "subscribe", job_ids: [] }, "VALIDATION_FAILED", /message\.job_ids/],
      [{ type: "subscribe", job_ids: [42] }, "VALIDATION_FAILED", /message\.job_ids\.0/],
      [{ type: "subscribe", job_ids: ["a"], all: true }, "VALIDATION_FAILED", /either/],
      [{ type: "subscribe", all: false }, "VALIDATION_FAILED", /message\.all/],
      [{ type: "subscribe", all: true, extra: 1 }, "VALIDATION_FAILED", /message\.extra: unknown field/],
      [{ type: "unsubscribe", job_ids: [""] }, "VALIDATION_FAILED", /message\.job_ids\.0/],
      [{ type: "subscribe", job_ids: ["no-such-job"] }, "JOB_NOT_FOUND", /no-such-job/],
    ];
    for (const [i, [msg, code, text]] of cases.entries()) {
      c.send(msg);
      const err = await c.nth((m) => m.type === "error", i, `error reply to ${JSON.stringify(msg)}`);
      expect(err.error.code, JSON.stringify(msg)).toBe(code);
      expect(err.error.message).toMatch(text);
      expect(err.error).toHaveProperty("details");
    }
    expect(c.messages.filter((m) => m.type === "error").at(-1).error.details).toEqual({
      job_ids: ["no-such-job"],
    });

    c.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const binaryError = await c.until((m) => m.type === "error" && /JSON text/.test(m.error.message));
    expect(binaryError.error.code).toBe("VALIDATION_FAILED");

    // Still open and working.
    const id = await submit(orch.url, tiny(3));
    c.send({ type: "subscribe", job_ids: [id] });
    await c.until(isEnd(id), "job end");
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
  });

  it("GET /api/ws without an upgrade is a 426 in the error format", async () => {
    expectError(await api(orch.url, "GET", "/api/ws"), 426, "UPGRADE_REQUIRED");
  });
});

describe("liveness", () => {
  let quick: Running;
  beforeAll(async () => {
    quick = await startWithEvents(sim, { ping_interval_s: 0.1 });
  });
  afterAll(async () => {
    await quick?.stop();
  });

  it("pings idle sockets, keeps the ones that answer and drops the ones that do not", async () => {
    const answering = await open(quick);
    const silent = await open(quick, { autoPong: false });
    let pings = 0;
    const threePings = new Promise<void>((resolve) =>
      answering.ws.on("ping", () => {
        if (++pings === 3) resolve();
      }),
    );
    const closed = await silent.closed;
    expect(closed.code).toBe(1006);
    await threePings;
    expect(answering.ws.readyState).toBe(WebSocket.OPEN);
  });
});
