// Model load cost: a checkpoint that is not warm is loaded (counted, VRAM held), a warm one is not; slots
// bound how many stay warm; a restart forgets them all. Only stats and /system_stats show it, as on ComfyUI.
import { afterEach, describe, expect, it } from "vitest";
import { txt2imgGraph } from "./graphs.js";
import { connectWs, getJson, postJson, queuePrompt, type WsRecorder } from "./sim-client.js";
import { type Simulator, startSimulator } from "./simulator.js";

const GB = 1024 ** 3;
const A = "sd_xl_base_1.0.safetensors";
const B = "v1-5-pruned-emaonly.safetensors";

describe("simulator: model loads", () => {
  let sim: Simulator | undefined;
  let ws: WsRecorder | undefined;
  afterEach(async () => {
    ws?.close();
    await sim?.close();
  });

  async function start(modelSlots: number) {
    sim = await startSimulator({ stepMs: 1, nodeMs: 0, loadMs: 5, modelSlots, modelGb: 3 });
    ws = await connectWs(sim.url, "c");
    await ws.waitForEvent("status");
  }
  async function run(ckpt: string) {
    const { prompt_id } = await queuePrompt(sim!.url, txt2imgGraph({ ckpt, steps: 1 }), "c");
    await ws!.waitForDone(prompt_id);
  }
  const vramFree = async () => (await getJson(sim!.url, "/system_stats")).body.devices[0].vram_free;

  it("loads a cold checkpoint once, holds its VRAM, and swaps it out with one slot", async () => {
    await start(1);
    const idle = await vramFree();
    await run(A);
    expect(sim!.stats.modelLoads).toBe(1);
    expect(await vramFree()).toBe(idle - 3 * GB);
    await run(A);
    expect(sim!.stats.modelLoads).toBe(1);
    await run(B);
    await run(A);
    expect(sim!.stats.modelLoads).toBe(3);
    expect(await vramFree()).toBe(idle - 3 * GB);
    await postJson(sim!.url, "/free", { unload_models: true });
    expect(await vramFree()).toBe(idle);
    await run(A);
    expect(sim!.stats.modelLoads).toBe(4);
  });

  it("keeps two checkpoints warm with two slots, and none after a restart", async () => {
    await start(2);
    const idle = await vramFree();
    await run(A);
    await run(B);
    await run(A);
    expect(sim!.stats.modelLoads).toBe(2);
    expect(await vramFree()).toBe(idle - 6 * GB);
    ws!.close();
    await sim!.restart();
    // The first request may ride a keep-alive socket the restart killed (see README).
    expect(await vramFree().catch(vramFree)).toBe(idle);
    ws = await connectWs(sim!.url, "c");
    await ws.waitForEvent("status");
    await run(B);
    expect(sim!.stats.modelLoads).toBe(3);
  });
});
