// The shared queue: /queue items, delete and clear, front, interrupts, foreign load, host stats.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyImageGraph, txt2imgGraph } from "./graphs.js";
import { connectWs, getJson, postJson, queuePrompt, type WsRecorder } from "./sim-client.js";
import { FOREIGN_CLIENT_ID, type Simulator, startSimulator } from "./simulator.js";

describe("simulator: queue", () => {
  let sim: Simulator;
  let ws: WsRecorder;
  beforeAll(async () => {
    sim = await startSimulator({ stepMs: 2, nodeMs: 0 });
    ws = await connectWs(sim.url, "q");
  });
  afterAll(async () => {
    ws.close();
    await sim.close();
  });

  /** Starts a long prompt and waits until it is sampling, so the rest of the queue stays pending. */
  async function occupy(): Promise<string> {
    const { prompt_id: id } = await queuePrompt(sim.url, txt2imgGraph({ steps: 5000 }), "q");
    await ws.waitForEvent("progress", (d) => d.prompt_id === id);
    return id;
  }

  async function interruptAndWait(id: string) {
    expect((await postJson(sim.url, "/interrupt", { prompt_id: id })).status).toBe(200);
    await ws.waitForDone(id);
  }

  it("lists running and pending items, deletes and clears pending ones", async () => {
    const blocker = await occupy();
    const a = await queuePrompt(sim.url, emptyImageGraph(), "q", { extra_data: { tag: "a" } });
    const b = await queuePrompt(sim.url, emptyImageGraph(), "q");
    const c = await queuePrompt(sim.url, emptyImageGraph(), "q");

    const { body } = await getJson(sim.url, "/queue");
    expect(body.queue_running.map((i: unknown[]) => i[1])).toEqual([blocker]);
    expect(body.queue_pending.map((i: unknown[]) => i[1])).toEqual([a.prompt_id, b.prompt_id, c.prompt_id]);
    const item = body.queue_pending[0];
    expect(item).toHaveLength(5);
    expect(item[0]).toBe(a.number);
    expect(item[2]).toEqual(emptyImageGraph());
    expect(item[3]).toMatchObject({ tag: "a", client_id: "q", create_time: expect.any(Number) });
    expect(item[4]).toEqual(["2"]);
    expect((await getJson(sim.url, "/prompt")).body).toEqual({ exec_info: { queue_remaining: 4 } });

    await postJson(sim.url, "/queue", { delete: [b.prompt_id, blocker] });
    let q = (await getJson(sim.url, "/queue")).body;
    expect(q.queue_pending.map((i: unknown[]) => i[1])).toEqual([a.prompt_id, c.prompt_id]);
    expect(q.queue_running.map((i: unknown[]) => i[1])).toEqual([blocker]);

    await postJson(sim.url, "/queue", { clear: true });
    q = (await getJson(sim.url, "/queue")).body;
    expect(q.queue_pending).toEqual([]);
    await interruptAndWait(blocker);
  });

  it("puts a front prompt ahead of the pending ones", async () => {
    const blocker = await occupy();
    const back = await queuePrompt(sim.url, emptyImageGraph(), "q");
    const front = await queuePrompt(sim.url, emptyImageGraph(), "q", { front: true });
    expect(front.number).toBeLessThan(back.number);
    const q = (await getJson(sim.url, "/queue")).body;
    expect(q.queue_pending.map((i: unknown[]) => i[1])).toEqual([front.prompt_id, back.prompt_id]);
    await interruptAndWait(blocker);
    await ws.waitForDone(back.prompt_id);
    const starts = ws
      .events()
      .filter((e) => e.type === "execution_start")
      .map((e) => e.data.prompt_id);
    expect(starts.indexOf(front.prompt_id)).toBeLessThan(starts.indexOf(back.prompt_id));
  });

  it("accepts a client-chosen prompt_id", async () => {
    const r = await queuePrompt(sim.url, emptyImageGraph(), "q", { prompt_id: "my-own-id" });
    expect(r.prompt_id).toBe("my-own-id");
    await ws.waitForDone("my-own-id");
  });

  it("interrupts only the named running prompt, or whatever runs when none is named", async () => {
    const running = await occupy();
    const waiting = await queuePrompt(sim.url, emptyImageGraph(), "q");
    // Naming a prompt that is not running does nothing.
    await postJson(sim.url, "/interrupt", { prompt_id: waiting.prompt_id });
    expect((await getJson(sim.url, "/queue")).body.queue_running[0][1]).toBe(running);

    const before = sim.stats.interrupts;
    await fetch(`${sim.url}/api/interrupt`, { method: "POST" });
    await ws.waitForDone(running);
    expect(sim.stats.interrupts).toBe(before + 1);
    const interrupted = await ws.waitForEvent("execution_interrupted", (d) => d.prompt_id === running);
    expect(interrupted.data).toMatchObject({
      node_id: "3",
      node_type: "KSampler",
      executed: ["4", "6", "7", "5"],
    });
    await ws.waitForDone(waiting.prompt_id);

    const entry = (await getJson(sim.url, `/history/${running}`)).body[running];
    expect(entry.status.status_str).toBe("error");
    expect(entry.status.completed).toBe(false);
    expect(entry.status.messages.map((m: [string]) => m[0])).toEqual([
      "execution_start",
      "execution_cached",
      "execution_interrupted",
    ]);
    expect(sim.history[waiting.prompt_id]?.status.status_str).toBe("success");
  });

  it("shows foreign prompts as a busy host", async () => {
    sim.addForeignPrompts(2, 3000);
    const q = (await getJson(sim.url, "/queue")).body;
    const all = [...q.queue_running, ...q.queue_pending];
    expect(all).toHaveLength(2);
    expect(all.every((i: Array<Record<string, unknown>>) => i[3]?.client_id === FOREIGN_CLIENT_ID)).toBe(
      true,
    );
    // A foreign prompt's events do not reach us, but queue status does.
    await ws.waitForEvent(
      "status",
      (d) => (d.status as { exec_info: { queue_remaining: number } }).exec_info.queue_remaining === 2,
    );
    expect(ws.events().some((e) => e.type === "execution_start" && e.data.prompt_id === all[0][1])).toBe(
      false,
    );

    const viaHttp = await postJson(sim.url, "/_sim/foreign", { count: 1, steps: 1 });
    expect(viaHttp.status).toBe(200);
    expect((await getJson(sim.url, "/prompt")).body.exec_info.queue_remaining).toBe(3);
    await postJson(sim.url, "/queue", { clear: true });
    await fetch(`${sim.url}/interrupt`, { method: "POST", body: "" });
  });

  it("reports VRAM in bytes and follows setVramFree", async () => {
    const stats = (await getJson(sim.url, "/system_stats")).body;
    expect(stats.devices[0]).toMatchObject({
      name: "NVIDIA GeForce RTX 4090 (simulated)",
      type: "cuda",
      index: 0,
      vram_total: 24 * 1024 ** 3,
      vram_free: 20 * 1024 ** 3,
    });
    expect(Object.keys(stats.system)).toEqual([
      "os",
      "ram_total",
      "ram_free",
      "comfyui_version",
      "required_frontend_version",
      "installed_templates_version",
      "required_templates_version",
      "python_version",
      "pytorch_version",
      "embedded_python",
      "argv",
    ]);
    sim.setVramFree(1024);
    expect((await getJson(sim.url, "/system_stats")).body.devices[0].vram_free).toBe(1024);
    await postJson(sim.url, "/_sim/vram", { free_bytes: 2048 });
    expect((await getJson(sim.url, "/system_stats")).body.devices[0].vram_free).toBe(2048);
  });

  it("never ran two prompts at once", () => {
    expect(sim.stats.maxConcurrentExecuting).toBe(1);
  });
});
