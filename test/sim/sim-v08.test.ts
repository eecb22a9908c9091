// What the simulator does because ComfyUI v0.8.0 does it: previews off by default and JPEG when on, type-4
// frames after feature_flags, progress_state, the output cache, cooperative interrupts, V3 object_info,
// CPU hosts, JPEG/WebP LoadImage, /view ranges and conversions, and 400s where a real host answers 400.
import fs from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyImageGraph, txt2imgGraph } from "./graphs.js";
import { connectWs, getJson, postJson, queuePrompt, type WsRecorder } from "./sim-client.js";
import { type Simulator, startSimulator } from "./simulator.js";

const JPEG_MAGIC = Buffer.from([0xff, 0xd8, 0xff]);

describe("simulator: ComfyUI v0.8.0 behaviour", () => {
  let sim: Simulator;
  const sockets: WsRecorder[] = [];
  beforeAll(async () => {
    sim = await startSimulator({ stepMs: 1, nodeMs: 0 });
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await sim.close();
  });
  async function ws(clientId: string) {
    const rec = await connectWs(sim.url, clientId);
    sockets.push(rec);
    await rec.waitForEvent("status");
    return rec;
  }
  const binaries = (rec: WsRecorder) => rec.messages.flatMap((m) => (m.kind === "binary" ? [m.bytes] : []));

  it("sends JPEG type-1 previews only to a prompt that asks in extra_data.preview_method", async () => {
    const rec = await ws("previews-1");
    const plain = await queuePrompt(sim.url, txt2imgGraph({ steps: 2, seed: 1 }), "previews-1");
    await rec.waitForDone(plain.prompt_id);
    expect(binaries(rec)).toHaveLength(0);

    const asked = await queuePrompt(sim.url, txt2imgGraph({ steps: 2, seed: 2 }), "previews-1", {
      extra_data: { preview_method: "auto" },
    });
    await rec.waitForDone(asked.prompt_id);
    const frames = binaries(rec);
    expect(frames).toHaveLength(2);
    for (const f of frames) {
      expect(f.readUInt32BE(0)).toBe(1);
      expect(f.readUInt32BE(4)).toBe(1); // JPEG
      expect(f.subarray(8, 11)).toEqual(JPEG_MAGIC);
    }
  });

  it("negotiates feature_flags and then sends type-4 previews with metadata before each progress", async () => {
    const rec = await ws("previews-4");
    rec.ws.send(JSON.stringify({ type: "feature_flags", data: { supports_preview_metadata: true } }));
    const flags = await rec.waitForEvent("feature_flags");
    expect(flags.data).toMatchObject({
      supports_preview_metadata: true,
      max_upload_size: expect.any(Number),
    });
    const { prompt_id: id } = await queuePrompt(sim.url, txt2imgGraph({ steps: 2, seed: 3 }), "previews-4", {
      extra_data: { preview_method: "taesd" },
    });
    await rec.waitForDone(id);
    const at = rec.messages.findIndex((m) => m.kind === "binary");
    const frame = rec.messages[at];
    if (frame?.kind !== "binary") throw new Error("no preview");
    expect(frame.bytes.readUInt32BE(0)).toBe(4);
    const len = frame.bytes.readUInt32BE(4);
    const meta = JSON.parse(frame.bytes.subarray(8, 8 + len).toString());
    expect(meta).toMatchObject({ node_id: "3", prompt_id: id, image_type: "image/jpeg" });
    expect(frame.bytes.subarray(8 + len, 11 + len)).toEqual(JPEG_MAGIC);
    const next = rec.messages.slice(at + 1).find((m) => m.kind === "json" && m.type !== "progress_state");
    expect(next).toMatchObject({ type: "progress", data: { value: 1, node: "3" } });
  });

  it("reports every node in progress_state, running then finished", async () => {
    const rec = await ws("states");
    const { prompt_id: id } = await queuePrompt(sim.url, txt2imgGraph({ steps: 2, seed: 4 }), "states");
    await rec.waitForDone(id);
    const states = rec.events().filter((e) => e.type === "progress_state");
    const last = states.at(-1)!.data as { prompt_id: string; nodes: Record<string, { state: string }> };
    expect(last.prompt_id).toBe(id);
    expect(Object.keys(last.nodes).sort()).toEqual(["3", "4", "5", "6", "7", "8", "9"]);
    expect(Object.values(last.nodes).every((n) => n.state === "finished")).toBe(true);
    const sampling = states.find(
      (e) => (e.data.nodes as Record<string, { state: string; value: number }>)["3"]?.value === 1,
    );
    expect((sampling!.data.nodes as Record<string, unknown>)["3"]).toMatchObject({
      value: 1,
      max: 2,
      state: "running",
      node_id: "3",
    });
  });

  it("caches unchanged nodes across prompts and replays the output node with the earlier files", async () => {
    const rec = await ws("cache");
    const graph = txt2imgGraph({ steps: 2, seed: 5, prefix: "cached/run" });
    const first = await queuePrompt(sim.url, graph, "cache");
    await rec.waitForDone(first.prompt_id);
    const files = () => fs.readdirSync(path.join(sim.dataDir, "output", "cached"));
    const before = files();

    const second = await queuePrompt(sim.url, graph, "cache");
    await rec.waitForDone(second.prompt_id);
    const of = (id: string) => rec.events().filter((e) => e.data.prompt_id === id);
    const cached = of(second.prompt_id).find((e) => e.type === "execution_cached")!;
    expect([...(cached.data.nodes as string[])].sort()).toEqual(["3", "4", "5", "6", "7", "8", "9"]);
    expect(of(second.prompt_id).some((e) => e.type === "executing" && e.data.node !== null)).toBe(false);
    const replay = of(second.prompt_id).find((e) => e.type === "executed" && e.data.node === "9")!;
    const firstRun = of(first.prompt_id).find((e) => e.type === "executed" && e.data.node === "9")!;
    expect(replay.data.output).toEqual(firstRun.data.output);
    expect(of(second.prompt_id).find((e) => e.type === "executed" && e.data.node === "4")!.data.output).toBe(
      null,
    );
    expect(files()).toEqual(before);
    expect(sim.history[second.prompt_id]?.outputs["9"]).toEqual(firstRun.data.output);

    // A new seed re-runs the sampler and what follows it; the loaders and encoders stay cached.
    const third = await queuePrompt(
      sim.url,
      txt2imgGraph({ steps: 2, seed: 6, prefix: "cached/run" }),
      "cache",
    );
    await rec.waitForDone(third.prompt_id);
    const ran = of(third.prompt_id)
      .filter((e) => e.type === "executing" && e.data.node !== null)
      .map((e) => e.data.node);
    expect(ran).toEqual(["3", "8", "9"]);
  });

  it("lets a node without progress steps run to its end after an interrupt", async () => {
    const rec = await ws("interrupts");
    sim.setFault({ kind: "slow_node", class_type: "ImageBlur", delay_ms: 300, count: 1 });
    const graph = {
      "1": { class_type: "EmptyImage", inputs: { width: 16, height: 16, batch_size: 1, color: 7 } },
      "2": { class_type: "ImageBlur", inputs: { image: ["1", 0], blur_radius: 1, sigma: 1 } },
      "3": { class_type: "ImageInvert", inputs: { image: ["2", 0] } },
      "4": { class_type: "SaveImage", inputs: { images: ["3", 0], filename_prefix: "blurred" } },
    };
    const { prompt_id: id } = await queuePrompt(sim.url, graph, "interrupts");
    await rec.waitForEvent("executing", (d) => d.prompt_id === id && d.node === "2");
    await postJson(sim.url, "/interrupt", { prompt_id: id });
    expect(sim.getQueue().running.map((i) => i[1])).toEqual([id]);
    const end = await rec.waitForEvent("execution_interrupted", (d) => d.prompt_id === id);
    // The blur finished; the interrupt took effect when the next node started.
    expect(end.data).toMatchObject({ node_id: "3", executed: ["1", "2"] });
  });

  it("writes V3 nodes' choices as COMBO in /object_info, with the V3 keys", async () => {
    const { body } = await getJson(sim.url, "/object_info");
    expect(body.UpscaleModelLoader.input.required.model_name).toEqual([
      "COMBO",
      { multiselect: false, options: ["4x-UltraSharp.pth", "RealESRGAN_x2.pth"] },
    ]);
    expect(body.UpscaleModelLoader).toMatchObject({
      deprecated: false,
      experimental: false,
      api_node: false,
    });
    expect(body.ImageUpscaleWithModel.input.required.image).toEqual(["IMAGE", {}]);
    expect(Array.isArray(body.CheckpointLoaderSimple.input.required.ckpt_name[0])).toBe(true);

    const v3 = await startSimulator({ objectInfoForm: "v3" });
    const v1 = await startSimulator({ objectInfoForm: "v1" });
    try {
      const all = (await getJson(v3.url, "/object_info/CheckpointLoaderSimple")).body;
      expect(all.CheckpointLoaderSimple.input.required.ckpt_name[0]).toBe("COMBO");
      const old = (await getJson(v1.url, "/object_info/UpscaleModelLoader")).body;
      expect(old.UpscaleModelLoader.input.required.model_name[0]).toEqual([
        "4x-UltraSharp.pth",
        "RealESRGAN_x2.pth",
      ]);
    } finally {
      await v3.close();
      await v1.close();
    }
  });

  it("lists model folders and files, and extensions", async () => {
    expect((await getJson(sim.url, "/models")).body).toEqual(
      expect.arrayContaining(["checkpoints", "loras"]),
    );
    expect((await getJson(sim.url, "/models/upscale_models")).body).toEqual([
      "4x-UltraSharp.pth",
      "RealESRGAN_x2.pth",
    ]);
    expect((await getJson(sim.url, "/models/nonsense")).status).toBe(404);
    expect((await getJson(sim.url, "/extensions")).body).toEqual([]);
    const stats = (await getJson(sim.url, "/system_stats")).body;
    expect(stats.system).toMatchObject({
      comfyui_version: "0.8.0",
      required_frontend_version: expect.any(String),
    });
  });

  it("reports a --cpu host's device as cpu with system RAM as its VRAM", async () => {
    const cpu = await startSimulator({ cpu: true });
    try {
      const stats = (await getJson(cpu.url, "/system_stats")).body;
      expect(stats.devices[0]).toMatchObject({ name: "cpu", type: "cpu", index: null });
      expect(stats.devices[0].vram_total).toBe(stats.system.ram_total);
    } finally {
      await cpu.close();
    }
  });

  it("loads JPEG and WebP inputs, serves ranges and converted previews", async () => {
    const rec = await ws("formats");
    const input = path.join(sim.dataDir, "input");
    const raw = { create: { width: 30, height: 20, channels: 3 as const, background: "#3366aa" } };
    fs.writeFileSync(path.join(input, "in.jpg"), await sharp(raw).jpeg().toBuffer());
    fs.writeFileSync(path.join(input, "in.webp"), await sharp(raw).webp().toBuffer());
    for (const name of ["in.jpg", "in.webp"]) {
      const graph = {
        "1": { class_type: "LoadImage", inputs: { image: name } },
        "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: `fmt_${name}` } },
      };
      const { prompt_id: id } = await queuePrompt(sim.url, graph, "formats");
      await rec.waitForDone(id);
      expect(sim.history[id]?.status.status_str).toBe("success");
      const saved = (sim.history[id]!.outputs["2"]!.images as Array<{ filename: string }>)[0]!;
      const meta = await sharp(path.join(sim.dataDir, "output", saved.filename)).metadata();
      expect([meta.width, meta.height]).toEqual([30, 20]);
    }
    const { prompt_id: id } = await queuePrompt(sim.url, emptyImageGraph({ prefix: "ranged" }), "formats");
    await rec.waitForDone(id);
    const file = (sim.history[id]!.outputs["2"]!.images as Array<{ filename: string }>)[0]!.filename;
    const whole = fs.readFileSync(path.join(sim.dataDir, "output", file));
    const part = await fetch(`${sim.url}/view?filename=${file}&type=output`, {
      headers: { range: "bytes=4-11" },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 4-11/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(whole.subarray(4, 12));
    const jpeg = await fetch(`${sim.url}/view?filename=${file}&type=output&preview=jpeg;90`);
    expect(jpeg.headers.get("content-type")).toBe("image/jpeg");
    const webp = await fetch(`${sim.url}/view?filename=${file}&type=output&preview=webp;90`);
    expect(webp.headers.get("content-type")).toBe("image/webp");
    expect((await sharp(Buffer.from(await webp.arrayBuffer())).metadata()).format).toBe("webp");
  });

  it("raises in ImageBlur when the radius is at least the image side", async () => {
    const rec = await ws("blur");
    const graph = {
      "1": { class_type: "EmptyImage", inputs: { width: 4, height: 4, batch_size: 1, color: 0 } },
      "2": { class_type: "ImageBlur", inputs: { image: ["1", 0], blur_radius: 5, sigma: 1 } },
      "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "blur" } },
    };
    const { prompt_id: id } = await queuePrompt(sim.url, graph, "blur");
    const err = await rec.waitForEvent("execution_error", (d) => d.prompt_id === id);
    expect(err.data).toMatchObject({ node_id: "2", exception_type: "RuntimeError" });
    expect(String(err.data.exception_message)).toContain("Padding size should be less than");
  });

  it("answers a list body or a list prompt with 400, as a real host does", async () => {
    const list = await postJson(sim.url, "/prompt", [{ prompt: {} }]);
    expect(list.status).toBe(400);
    expect(list.body.error.type).toBe("no_prompt");
    const empty = await postJson(sim.url, "/prompt", { prompt: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.error.type).toBe("prompt_no_outputs");
  });
});
