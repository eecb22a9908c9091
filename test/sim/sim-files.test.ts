// Uploads, /view and the model-free image nodes on real pixels.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodePng, encodePng, solidFrame } from "./image.js";
import { connectWs, queuePrompt, type WsRecorder } from "./sim-client.js";
import { type Simulator, startSimulator } from "./simulator.js";

function pngBytes(width: number, height: number, rgb: number): Buffer {
  return encodePng(solidFrame(width, height, rgb));
}

async function upload(
  url: string,
  bytes: Buffer,
  filename: string,
  fields: Record<string, string> = {},
  route = "/upload/image",
) {
  const form = new FormData();
  form.append("image", new Blob([new Uint8Array(bytes)], { type: "image/png" }), filename);
  for (const [k, v] of Object.entries(fields)) form.append(k, v);
  const res = await fetch(url + route, { method: "POST", body: form });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe("simulator: files", () => {
  let sim: Simulator;
  let ws: WsRecorder;
  beforeAll(async () => {
    sim = await startSimulator({ stepMs: 0, nodeMs: 0 });
    ws = await connectWs(sim.url, "files");
  });
  afterAll(async () => {
    ws.close();
    await sim.close();
  });

  it("renames a clashing upload, reuses identical bytes, overwrites on request", async () => {
    const red = pngBytes(4, 4, 0xff0000);
    const blue = pngBytes(4, 4, 0x0000ff);
    expect(await upload(sim.url, red, "x.png")).toEqual({
      status: 200,
      body: { name: "x.png", subfolder: "", type: "input" },
    });
    expect((await upload(sim.url, red, "x.png")).body.name).toBe("x.png");
    expect((await upload(sim.url, blue, "x.png")).body.name).toBe("x (1).png");
    expect((await upload(sim.url, pngBytes(4, 4, 0x00ff00), "x.png")).body.name).toBe("x (2).png");
    // Identical to the renamed copy: that name comes back.
    expect((await upload(sim.url, blue, "x.png")).body.name).toBe("x (1).png");

    const over = await upload(sim.url, blue, "x.png", { overwrite: "true" });
    expect(over.body).toEqual({ name: "x.png", subfolder: "", type: "input" });
    expect(fs.readFileSync(path.join(sim.dataDir, "input", "x.png"))).toEqual(blue);
    expect(sim.stats.uploads).toBe(6);
  });

  it("stores into a subfolder and type, and refuses path escapes with 400", async () => {
    const bytes = pngBytes(2, 2, 0x123456);
    const r = await upload(
      sim.url,
      bytes,
      "m.png",
      { subfolder: "masks/a", type: "temp" },
      "/api/upload/mask",
    );
    expect(r.body).toEqual({ name: "m.png", subfolder: "masks/a", type: "temp" });
    expect(fs.existsSync(path.join(sim.dataDir, "temp", "masks", "a", "m.png"))).toBe(true);

    expect((await upload(sim.url, bytes, "y.png", { subfolder: "../../etc" })).status).toBe(400);
    expect((await upload(sim.url, bytes, "y.png", { subfolder: "/tmp" })).status).toBe(400);
    expect((await upload(sim.url, bytes, "../y.png")).status).toBe(400);
    const noFile = await fetch(`${sim.url}/upload/image`, { method: "POST", body: new FormData() });
    expect(noFile.status).toBe(400);
  });

  it("serves exactly the saved bytes, with ComfyUI's path checks", async () => {
    const graph = {
      "1": { class_type: "EmptyImage", inputs: { width: 40, height: 24, batch_size: 2, color: 0x336699 } },
      "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: "views/shot" } },
    };
    const { prompt_id: id } = await queuePrompt(sim.url, graph, "files");
    const done = await ws.waitForEvent("executed", (d) => d.prompt_id === id);
    const images = (
      done.data.output as { images: Array<{ filename: string; subfolder: string; type: string }> }
    ).images;
    expect(images.map((i) => i.filename)).toEqual(["shot_00001_.png", "shot_00002_.png"]);
    const img = images[0]!;

    const res = await fetch(
      `${sim.url}/view?filename=${img.filename}&subfolder=${img.subfolder}&type=${img.type}`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/png");
    const served = Buffer.from(await res.arrayBuffer());
    expect(served).toEqual(fs.readFileSync(path.join(sim.dataDir, "output", "views", img.filename)));
    const decoded = decodePng(served);
    expect([decoded.width, decoded.height]).toEqual([40, 24]);
    expect([...decoded.data.subarray(0, 4)]).toEqual([0x33, 0x66, 0x99, 255]);

    const status = async (q: string) => (await fetch(`${sim.url}/view?${q}`)).status;
    expect(await status("filename=nothere.png")).toBe(404);
    expect(await status("subfolder=views")).toBe(404);
    expect(await status(`filename=..%2Fsecret.png`)).toBe(400);
    expect(await status(`filename=%2Fetc%2Fpasswd`)).toBe(400);
    expect(await status(`filename=${img.filename}&subfolder=..%2F..`)).toBe(403);
    expect(await status(`filename=${img.filename}&subfolder=views&type=bogus`)).toBe(400);
    // server.py keeps only the basename of a filename with a slash.
    expect(await status(`filename=views%2F${img.filename}`)).toBe(404);
    expect(await status(`filename=views%2F${img.filename}&subfolder=views`)).toBe(200);
  });

  it("runs LoadImage → ImageInvert → ImageScale → ImageBlur on real pixels", async () => {
    const up = await upload(sim.url, pngBytes(10, 20, 0x102030), "source.png", { subfolder: "src" });
    const graph = {
      "1": { class_type: "LoadImage", inputs: { image: `${up.body.subfolder}/${up.body.name}` } },
      "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
      "3": {
        class_type: "ImageScale",
        inputs: { image: ["2", 0], upscale_method: "bicubic", width: 30, height: 0, crop: "disabled" },
      },
      "4": { class_type: "ImageBlur", inputs: { image: ["3", 0], blur_radius: 2, sigma: 1.0 } },
      "5": { class_type: "SaveImage", inputs: { images: ["4", 0], filename_prefix: "pipeline" } },
      "6": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    };
    const { prompt_id: id } = await queuePrompt(sim.url, graph, "files");
    await ws.waitForDone(id);
    const history = sim.history[id]!;
    expect(history.status.status_str).toBe("success");
    const saved = (history.outputs["5"]!.images as Array<{ filename: string }>)[0]!;
    const frame = decodePng(fs.readFileSync(path.join(sim.dataDir, "output", saved.filename)));
    expect([frame.width, frame.height]).toEqual([30, 60]);
    expect([...frame.data.subarray(0, 4)]).toEqual([0xef, 0xdf, 0xcf, 255]);
    const preview = (history.outputs["6"]!.images as Array<{ filename: string; type: string }>)[0]!;
    expect(preview.type).toBe("temp");
    expect(preview.filename).toMatch(/^ComfyUI_temp_[a-z]{5}_00001_\.png$/);
  });

  it("pads SaveImage output to outputSizeBytes and keeps it a valid PNG", async () => {
    const big = await startSimulator({ stepMs: 0, nodeMs: 0, outputSizeBytes: 3 * 1024 * 1024 });
    try {
      const client = await connectWs(big.url, "big");
      const graph = {
        "1": { class_type: "EmptyImage", inputs: { width: 16, height: 16, batch_size: 1, color: 0xffffff } },
        "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: "big" } },
      };
      const { prompt_id: id } = await queuePrompt(big.url, graph, "big");
      await client.waitForDone(id);
      client.close();
      const res = await fetch(`${big.url}/view?filename=big_00001_.png&type=output`);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.length).toBe(3 * 1024 * 1024);
      expect(decodePng(bytes).width).toBe(16);
    } finally {
      await big.close();
    }
  });
});
