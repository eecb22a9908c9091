// One prompt's life over /ws: event order, who hears what, previews, reconnect takeover, history shape.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { txt2imgGraph } from "./graphs.js";
import { connectWs, getJson, queuePrompt, type WsRecorder } from "./sim-client.js";
import { type Simulator, startSimulator } from "./simulator.js";

describe("simulator: a prompt over the WebSocket", () => {
  let sim: Simulator;
  const sockets: WsRecorder[] = [];

  beforeAll(async () => {
    sim = await startSimulator({ stepMs: 1, nodeMs: 0 });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await sim.close();
  });

  async function ws(clientId?: string | null) {
    const rec = await connectWs(sim.url, clientId);
    sockets.push(rec);
    return rec;
  }

  it("greets a client with status and its sid, generating one when absent", async () => {
    const named = await ws("client-a");
    const first = await named.waitForEvent("status");
    expect(first.data).toEqual({ status: { exec_info: { queue_remaining: 0 } }, sid: "client-a" });

    const anonymous = await ws(null);
    const greet = await anonymous.waitForEvent("status");
    expect(greet.data.sid).toMatch(/^[0-9a-f]{32}$/);
  });

  it("sends a prompt's events in ComfyUI's order, only to its client", async () => {
    const mine = await ws("owner");
    const other = await ws("bystander");
    await mine.waitForEvent("status");
    await other.waitForEvent("status");

    const { prompt_id: id, number } = await queuePrompt(sim.url, txt2imgGraph({ steps: 3 }), "owner");
    expect(typeof number).toBe("number");
    await mine.waitForDone(id);

    const events = mine.events();
    const sequence = events
      .filter((e) => e.data.prompt_id === id && e.type !== "progress_state")
      .map((e) =>
        e.type === "executing"
          ? `executing:${e.data.node}`
          : e.type === "progress"
            ? `progress:${e.data.value}/${e.data.max}`
            : e.type,
      );
    expect(sequence).toEqual([
      "execution_start",
      "execution_cached",
      "executing:4",
      "executing:6",
      "executing:7",
      "executing:5",
      "executing:3",
      "progress:1/3",
      "progress:2/3",
      "progress:3/3",
      "executing:8",
      "executing:9",
      "executed",
      "execution_success",
      "executing:null",
    ]);
    const start = events.find((e) => e.type === "execution_start")!;
    expect(Number.isInteger(start.data.timestamp)).toBe(true);
    expect(events.find((e) => e.type === "execution_cached")!.data).toMatchObject({
      nodes: [],
      prompt_id: id,
    });
    expect(events.find((e) => e.type === "executing" && e.data.node === "3")!.data).toEqual({
      node: "3",
      display_node: "3",
      prompt_id: id,
    });
    expect(events.find((e) => e.type === "progress")!.data).toEqual({
      value: 1,
      max: 3,
      prompt_id: id,
      node: "3",
    });
    const executed = events.find((e) => e.type === "executed")!.data;
    expect(executed).toMatchObject({ node: "9", display_node: "9", prompt_id: id });
    expect((executed.output as { images: unknown[] }).images).toEqual([
      { filename: expect.stringMatching(/^ComfyUI_\d{5}_\.png$/), subfolder: "", type: "output" },
    ]);

    // The status after the prompt ends comes before the final executing(null), as in prompt_worker.
    const types = mine.events().map((e) => e.type);
    expect(types.lastIndexOf("status")).toBeGreaterThan(types.indexOf("execution_success"));

    // --preview-method defaults to none: no preview frames unless the prompt asks for them.
    expect(mine.messages.some((m) => m.kind === "binary")).toBe(false);

    // The bystander hears only queue status broadcasts.
    const heard = other.events();
    expect(heard.every((e) => e.type === "status")).toBe(true);
    expect(
      heard.some(
        (e) => (e.data.status as { exec_info: { queue_remaining: number } }).exec_info.queue_remaining === 1,
      ),
    ).toBe(true);
    expect(other.messages.some((m) => m.kind === "binary")).toBe(false);
  });

  it("records a success in history with ComfyUI's shape", async () => {
    const client = await ws("historian");
    const { prompt_id: id } = await queuePrompt(
      sim.url,
      txt2imgGraph({ steps: 2, prefix: "hist/run" }),
      "historian",
      {
        extra_data: { job: "j-1" },
      },
    );
    const unfinished = await getJson(sim.url, `/history/${id}`);
    expect(unfinished.body).toEqual({});
    await client.waitForDone(id);

    const { body } = await getJson(sim.url, `/history/${id}`);
    const entry = body[id];
    expect(Object.keys(entry)).toEqual(["prompt", "outputs", "status", "meta"]);
    expect(entry.prompt[1]).toBe(id);
    expect(entry.prompt[3]).toMatchObject({ job: "j-1", client_id: "historian" });
    expect(entry.prompt[4]).toEqual(["9"]);
    expect(entry.outputs).toEqual({
      "9": {
        images: [{ filename: expect.stringMatching(/^run_\d{5}_\.png$/), subfolder: "hist", type: "output" }],
      },
    });
    expect(entry.status.status_str).toBe("success");
    expect(entry.status.completed).toBe(true);
    expect(entry.status.messages.map((m: [string, unknown]) => m[0])).toEqual([
      "execution_start",
      "execution_cached",
      "execution_success",
    ]);
    expect(entry.meta).toEqual({
      "9": { node_id: "9", display_node: "9", parent_node: null, real_node_id: "9" },
    });

    const listed = await getJson(sim.url, "/api/history?max_items=1");
    expect(Object.keys(listed.body)).toEqual([id]);
  });

  it("hands the session to a reconnecting client and re-sends the current node", async () => {
    const first = await ws("roamer");
    const { prompt_id: id } = await queuePrompt(sim.url, txt2imgGraph({ steps: 400 }), "roamer");
    await first.waitForEvent("progress", (d) => d.prompt_id === id);

    const second = await ws("roamer");
    const resent = await second.waitForEvent("executing");
    expect(resent.data).toEqual({ node: "3" });
    await second.waitForEvent("progress", (d) => d.prompt_id === id);
    first.close();

    await fetch(`${sim.url}/interrupt`, { method: "POST" });
    await second.waitForDone(id);
    expect(second.events().some((e) => e.type === "execution_interrupted")).toBe(true);
  });

  it("broadcasts only progress and previews for a prompt without client_id, as ComfyUI does", async () => {
    const listener = await ws("listener");
    await listener.waitForEvent("status");
    const { prompt_id: id } = await queuePrompt(sim.url, txt2imgGraph({ steps: 2, seed: 77 }), undefined, {
      extra_data: { preview_method: "auto" },
    });
    await listener.waitForEvent("progress", (d) => d.prompt_id === id && d.value === 2);
    const idle = (d: Record<string, unknown>) =>
      (d.status as { exec_info: { queue_remaining: number } }).exec_info.queue_remaining === 0;
    const progressAt = listener.messages.findIndex((m) => m.kind === "json" && m.type === "progress");
    await listener.waitFor(
      (m) =>
        m.kind === "json" && m.type === "status" && idle(m.data) && listener.messages.indexOf(m) > progressAt,
    );
    const types = new Set(listener.events().map((e) => e.type));
    expect([...types].sort()).toEqual(["progress", "progress_state", "status"]);
    expect(listener.messages.some((m) => m.kind === "binary")).toBe(true);
    expect(sim.history[id]?.status.status_str).toBe("success");
  });

  it("answers every route under /api as well", async () => {
    const bare = await getJson(sim.url, "/prompt");
    const api = await getJson(sim.url, "/api/prompt");
    expect(api).toEqual(bare);
    expect(api.body).toEqual({ exec_info: { queue_remaining: 0 } });
    const rec = await connectWs(`${sim.url}/api`, "via-api");
    sockets.push(rec);
    expect((await rec.waitForEvent("status")).data.sid).toBe("via-api");
  });
});
