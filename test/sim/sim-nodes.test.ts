// The simulated model nodes: deterministic images per seed, latent sizes, and the prompt embedded in the PNG.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { txt2imgGraph } from "./graphs.js";
import { decodePng } from "./image.js";
import type { Graph } from "./node-types.js";
import { connectWs, getJson, postJson, queuePrompt, type WsRecorder } from "./sim-client.js";
import { type Simulator, startSimulator } from "./simulator.js";

describe("simulator: node outputs", () => {
  let sim: Simulator;
  let ws: WsRecorder;
  beforeAll(async () => {
    sim = await startSimulator({ stepMs: 0, nodeMs: 0 });
    ws = await connectWs(sim.url, "nodes");
  });
  afterAll(async () => {
    ws.close();
    await sim.close();
  });

  async function run(graph: Graph): Promise<Buffer[]> {
    const { prompt_id: id } = await queuePrompt(sim.url, graph, "nodes");
    await ws.waitForDone(id);
    const entry = sim.history[id]!;
    expect(entry.status.status_str).toBe("success");
    const images = Object.values(entry.outputs).flatMap(
      (o) => o.images as Array<{ filename: string; subfolder: string }>,
    );
    return images.map((i) => fs.readFileSync(path.join(sim.dataDir, "output", i.subfolder, i.filename)));
  }

  it("decodes the same seed to the same pixels and another seed to different ones", async () => {
    const [a] = await run(txt2imgGraph({ seed: 7, width: 72, height: 40 }));
    const [b] = await run(txt2imgGraph({ seed: 7, width: 72, height: 40 }));
    const [c] = await run(txt2imgGraph({ seed: 8, width: 72, height: 40 }));
    const [fa, fb, fc] = [a!, b!, c!].map(decodePng);
    expect([fa!.width, fa!.height]).toEqual([72, 40]);
    expect(fb!.data).toEqual(fa!.data);
    expect(fc!.data).not.toEqual(fa!.data);
  });

  it("saves one file per batch item, with sizes rounded to the latent grid", async () => {
    const files = await run(txt2imgGraph({ seed: 1, width: 100, height: 60, batch: 3, prefix: "batch/b" }));
    expect(files).toHaveLength(3);
    for (const f of files) expect([decodePng(f).width, decodePng(f).height]).toEqual([96, 56]);
  });

  it("embeds the API prompt as a PNG tEXt chunk", async () => {
    const [png] = await run(txt2imgGraph({ seed: 3, positive: "embedded text" }));
    const text = png!.toString("latin1");
    expect(text).toContain("tEXtprompt\0");
    expect(text).toContain("embedded text");
  });

  it("crops to the target aspect with ImageScale crop=center", async () => {
    const graph: Graph = {
      "1": { class_type: "EmptyImage", inputs: { width: 200, height: 100, batch_size: 1, color: 0x00ff00 } },
      "2": {
        class_type: "ImageScale",
        inputs: { image: ["1", 0], upscale_method: "lanczos", width: 50, height: 50, crop: "center" },
      },
      "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "crop" } },
    };
    const [png] = await run(graph);
    const f = decodePng(png!);
    expect([f.width, f.height]).toEqual([50, 50]);
    expect([...f.data.subarray(0, 4)]).toEqual([0, 255, 0, 255]);
  });

  it("deletes and clears history entries", async () => {
    const [first, second] = [
      await queuePrompt(sim.url, txt2imgGraph(), "nodes"),
      await queuePrompt(sim.url, txt2imgGraph(), "nodes"),
    ];
    await ws.waitForDone(second.prompt_id);
    await postJson(sim.url, "/history", { delete: [first.prompt_id] });
    expect((await getJson(sim.url, `/history/${first.prompt_id}`)).body).toEqual({});
    expect(Object.keys((await getJson(sim.url, `/history/${second.prompt_id}`)).body)).toEqual([
      second.prompt_id,
    ]);
    await postJson(sim.url, "/api/history", { clear: true });
    expect((await getJson(sim.url, "/history")).body).toEqual({});
  });
});
