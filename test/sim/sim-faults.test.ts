// Fault injection and lifecycle: node errors and OOM as ComfyUI reports them, crashes and restarts, refused
// connections, dropped sockets, HTTP errors and hangs.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { emptyImageGraph, txt2imgGraph } from "./graphs.js";
import { connectWs, getJson, postJson, queuePrompt, type WsRecorder } from "./sim-client.js";
import { type Simulator, startSimulator } from "./simulator.js";

describe("simulator: faults", () => {
  let sim: Simulator;
  let ws: WsRecorder;
  beforeEach(async () => {
    sim = await startSimulator({ stepMs: 1, nodeMs: 0 });
    ws = await connectWs(sim.url, "f");
  });
  afterEach(async () => {
    ws.close();
    await sim.close();
  });

  it("reports an OOM as execution_error with torch.OutOfMemoryError, then executing null", async () => {
    sim.setFault({ kind: "oom", count: 1 });
    const { prompt_id: id } = await queuePrompt(sim.url, txt2imgGraph(), "f");
    await ws.waitForDone(id);
    const err = (await ws.waitForEvent("execution_error")).data;
    expect(err).toMatchObject({
      prompt_id: id,
      node_id: "3",
      node_type: "KSampler",
      executed: ["4", "6", "7", "5"],
      exception_type: "torch.OutOfMemoryError",
    });
    // The nodes holding outputs when it failed (caches.outputs.all_node_ids()).
    expect([...(err.current_outputs as string[])].sort()).toEqual(["4", "5", "6", "7"]);
    expect(err.exception_message).toContain("CUDA out of memory");
    expect(err.traceback).toEqual(expect.arrayContaining([expect.any(String)]));
    expect((err.current_inputs as Record<string, unknown[]>).steps).toEqual([4]);
    const order = ws
      .events()
      .filter((e) => e.data.prompt_id === id)
      .map((e) => e.type);
    expect(order.slice(-2)).toEqual(["execution_error", "executing"]);

    const entry = (await getJson(sim.url, `/history/${id}`)).body[id];
    expect(entry.status).toMatchObject({ status_str: "error", completed: false });
    expect(entry.status.messages.map((m: [string]) => m[0])).toEqual([
      "execution_start",
      "execution_cached",
      "execution_error",
    ]);
    expect(entry.outputs).toEqual({});

    // count: 1 — the next prompt succeeds.
    const again = await queuePrompt(sim.url, txt2imgGraph(), "f");
    await ws.waitForDone(again.prompt_id);
    expect(sim.history[again.prompt_id]?.status.status_str).toBe("success");
  });

  it("raises a RuntimeError on a chosen node, keeping outputs that already ran", async () => {
    const graph = {
      ...emptyImageGraph(),
      "3": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "4": { class_type: "SaveImage", inputs: { images: ["3", 0], filename_prefix: "inv" } },
    };
    await postJson(sim.url, "/_sim/fault", { kind: "execution_error", node_id: "3", message: "boom" });
    const { prompt_id: id } = await queuePrompt(sim.url, graph, "f");
    await ws.waitForDone(id);
    const err = (await ws.waitForEvent("execution_error")).data;
    expect(err).toMatchObject({
      node_id: "3",
      node_type: "ImageInvert",
      exception_type: "RuntimeError",
      exception_message: "boom\n",
    });
    const entry = sim.history[id]!;
    expect(Object.keys(entry.outputs)).toEqual(["2"]);
    expect(entry.status.status_str).toBe("error");
  });

  it("forgets queue and history on crash + restart, on the same port", async () => {
    const { prompt_id: done } = await queuePrompt(sim.url, emptyImageGraph(), "f");
    await ws.waitForDone(done);
    const port = sim.port;
    await sim.crash();
    await ws.waitClosed();
    await expect(fetch(`${sim.url}/queue`)).rejects.toThrow();

    await sim.restart();
    expect(sim.port).toBe(port);
    expect((await getJson(sim.url, `/history/${done}`)).body).toEqual({});
    expect((await getJson(sim.url, "/queue")).body).toEqual({ queue_running: [], queue_pending: [] });
    ws = await connectWs(sim.url, "f");
    expect((await ws.waitForEvent("status")).data.sid).toBe("f");
  });

  it("restarts on the same port after a graceful close, keeping files on disk", async () => {
    const { prompt_id: id } = await queuePrompt(sim.url, emptyImageGraph({ prefix: "kept" }), "f");
    await ws.waitForDone(id);
    await sim.close();
    await ws.waitClosed();
    await sim.restart();
    expect((await fetch(`${sim.url}/view?filename=kept_00001_.png`)).status).toBe(200);
    expect((await getJson(sim.url, "/history")).body).toEqual({});
  });

  it("crashes mid-prompt and comes back empty", async () => {
    sim.setFault({ kind: "crash_mid_prompt", restart_after_ms: 0 });
    const { prompt_id: id } = await queuePrompt(sim.url, txt2imgGraph({ steps: 50 }), "f");
    await ws.waitClosed();
    await sim.ready();
    expect((await getJson(sim.url, `/history/${id}`)).body).toEqual({});
    expect((await getJson(sim.url, "/queue")).body).toEqual({ queue_running: [], queue_pending: [] });
  });

  it("drops WebSockets mid-prompt while the prompt keeps running", async () => {
    sim.setFault({ kind: "drop_ws_mid_prompt" });
    const { prompt_id: id } = await queuePrompt(sim.url, txt2imgGraph({ steps: 5000 }), "f");
    await ws.waitClosed();
    const back = await connectWs(sim.url, "f");
    try {
      // The reconnecting client is told which node runs, then hears the same prompt progress on.
      expect((await back.waitForEvent("executing")).data).toEqual({ node: "3" });
      await back.waitForEvent("progress", (d) => d.prompt_id === id);
      await postJson(sim.url, "/interrupt", { prompt_id: id });
      await back.waitForDone(id);
    } finally {
      back.close();
    }
  });

  it("refuses connections until faults are cleared, keeping its state", async () => {
    const { prompt_id: id } = await queuePrompt(sim.url, emptyImageGraph(), "f");
    await ws.waitForDone(id);
    sim.setFault({ kind: "refuse_connections" });
    await sim.ready();
    await expect(fetch(`${sim.url}/prompt`)).rejects.toThrow();
    sim.clearFaults();
    await sim.ready();
    expect(Object.keys((await getJson(sim.url, `/history/${id}`)).body)).toEqual([id]);
  });

  it("can be steered over HTTP: refuse via /_sim/fault, crash and restart via /_sim/crash", async () => {
    const { prompt_id: id } = await queuePrompt(sim.url, emptyImageGraph(), "f");
    await ws.waitForDone(id);
    expect((await postJson(sim.url, "/_sim/fault", { kind: "refuse_connections" })).status).toBe(200);
    await ws.waitClosed();
    await sim.ready();
    await expect(fetch(`${sim.url}/prompt`)).rejects.toThrow();
    sim.clearFaults();
    await sim.ready();
    expect(Object.keys((await getJson(sim.url, `/history/${id}`)).body)).toEqual([id]);

    ws = await connectWs(sim.url, "f");
    const crash = await postJson(sim.url, "/_sim/crash", { restart_after_ms: 0 });
    expect(crash.body).toEqual({ ok: true, restart_after_ms: 0 });
    await ws.waitClosed();
    await sim.ready();
    expect((await getJson(sim.url, `/history/${id}`)).body).toEqual({});
  });

  it("answers a route with an error status a given number of times", async () => {
    sim.setFault({ kind: "http_error", route: "/history", status: 503, count: 2 });
    expect((await fetch(`${sim.url}/history`)).status).toBe(503);
    expect((await fetch(`${sim.url}/api/history/x`)).status).toBe(503);
    expect((await fetch(`${sim.url}/history`)).status).toBe(200);
    expect((await fetch(`${sim.url}/queue`)).status).toBe(200);
  });

  it("hangs a route without answering", async () => {
    sim.setFault({ kind: "hang", route: "/system_stats", count: 1 });
    const ctrl = new AbortController();
    const pending = fetch(`${sim.url}/system_stats`, { signal: ctrl.signal });
    // Another route still answers while the first request hangs.
    expect((await fetch(`${sim.url}/prompt`)).status).toBe(200);
    ctrl.abort();
    await expect(pending).rejects.toThrow();
    expect((await fetch(`${sim.url}/system_stats`)).status).toBe(200);
  });

  it("delays /view under slow_view and rejects malformed faults", async () => {
    sim.setFault({ kind: "slow_view", delay_ms: 20, count: 1 });
    const { prompt_id: id } = await queuePrompt(sim.url, emptyImageGraph({ prefix: "slow" }), "f");
    await ws.waitForDone(id);
    expect((await fetch(`${sim.url}/view?filename=slow_00001_.png`)).status).toBe(200);
    expect((await postJson(sim.url, "/_sim/fault", { kind: "gremlins" })).status).toBe(400);
    expect((await postJson(sim.url, "/_sim/reset", {})).status).toBe(200);
  });
});
