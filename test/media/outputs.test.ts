// One job with outputs of several kinds (images, a video under `gifs`, audio), each stored and served with
// its own content type, and byte-range downloads of an output.
import { createHash } from "node:crypto";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { type JobJson, startMediaOrchestrator } from "./media-helpers.js";

const MEDIA_WORKFLOW = {
  name: "Still, clip and sound",
  graph: {
    "1": { class_type: "EmptyImage", inputs: { width: 16, height: 16, batch_size: 2, color: 0x224466 } },
    "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: "still" } },
    "3": {
      class_type: "VHS_VideoCombine",
      inputs: {
        images: ["1", 0],
        frame_rate: 8,
        loop_count: 0,
        filename_prefix: "clip",
        format: "video/h264-mp4",
        pingpong: false,
        save_output: true,
      },
    },
    "4": { class_type: "SimSilentAudio", inputs: { seconds: 0.5, sample_rate: 8000 } },
    "5": { class_type: "SaveAudio", inputs: { audio: ["4", 0], filename_prefix: "audio/sound" } },
  },
};
/** 0.5 s of 16-bit mono at 8 kHz plus the 44-byte WAV header. */
const WAV_SIZE = 44 + 8000;

let sim: Simulator;
let orch: RunningOrchestrator;
let dir: string;
let job: JobJson;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  dir = makeTestDir();
  writeFileSync(path.join(dir, "data", "workflows", "media_outputs.json"), JSON.stringify(MEDIA_WORKFLOW));
  orch = await startMediaOrchestrator({ backends: [{ id: "sim-1", url: sim.url }], dir });
  const r = await api(orch.url, "POST", "/api/job?wait=20", { workflow_id: "media_outputs" });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  job = r.body;
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const byKind = (kind: string) => job.outputs.filter((o) => o.kind === kind);
const wav = () => byKind("audio")[0]!;
const get = (url: string, headers: Record<string, string> = {}) => fetch(url, { headers });

describe("outputs of several kinds", () => {
  it("collects images, a video and audio from one job, each with its content type", async () => {
    expect(job.status, JSON.stringify(job.error)).toBe("completed");
    expect(byKind("images").map((o) => o.content_type)).toEqual(["image/png", "image/png"]);
    expect(byKind("gifs").map((o) => o.content_type)).toEqual(["video/mp4"]);
    expect(byKind("audio").map((o) => o.content_type)).toEqual(["audio/wav"]);
    const signatures: Record<string, (b: Buffer) => boolean> = {
      "image/png": (b) => b.subarray(1, 4).toString("latin1") === "PNG",
      "video/mp4": (b) => b.subarray(4, 8).toString("latin1") === "ftyp",
      "audio/wav": (b) => b.subarray(8, 12).toString("latin1") === "WAVE",
    };
    for (const out of job.outputs) {
      const res = await get(out.url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe(out.content_type);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.length).toBe(out.size);
      expect(createHash("sha256").update(bytes).digest("hex")).toBe(out.sha256);
      expect(signatures[out.content_type]!(bytes), out.filename).toBe(true);
    }
  });
});

describe("Range requests", () => {
  it("advertises byte ranges on a whole download", async () => {
    const res = await get(wav().url);
    expect(res.status).toBe(200);
    expect(res.headers.get("accept-ranges")).toBe("bytes");
    expect(res.headers.get("content-length")).toBe(String(WAV_SIZE));
  });

  it.each([
    ["bytes=0-3", 0, 3],
    ["bytes=-4", WAV_SIZE - 4, WAV_SIZE - 1],
    ["bytes=8040-", 8040, WAV_SIZE - 1],
    ["bytes=100-99999", 100, WAV_SIZE - 1],
  ])("serves %s as 206", async (range, start, end) => {
    const whole = Buffer.from(await (await get(wav().url)).arrayBuffer());
    const res = await get(wav().url, { range });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes ${start}-${end}/${WAV_SIZE}`);
    expect(res.headers.get("content-length")).toBe(String(end - start + 1));
    expect(res.headers.get("content-type")).toBe("audio/wav");
    expect(Buffer.from(await res.arrayBuffer()).equals(whole.subarray(start, end + 1))).toBe(true);
  });

  it("answers 416 with a JSON error for a range past the end", async () => {
    const res = await get(wav().url, { range: `bytes=${WAV_SIZE}-` });
    expect(res.headers.get("content-range")).toBe(`bytes */${WAV_SIZE}`);
    const r = { status: res.status, body: (await res.json()) as { error: { details: unknown } } };
    expectError(r, 416, "RANGE_NOT_SATISFIABLE");
    expect(r.body.error.details).toMatchObject({ field: "range", size: WAV_SIZE });
  });

  it("sends the whole file for several ranges or a stale If-Range", async () => {
    expect((await get(wav().url, { range: "bytes=0-1,4-5" })).status).toBe(200);
    expect((await get(wav().url, { range: "bytes=0-1", "if-range": '"not-this-version"' })).status).toBe(200);
    const fresh = await get(wav().url, { range: "bytes=0-1", "if-range": `"${wav().sha256}"` });
    expect(fresh.status).toBe(206);
    expect(Buffer.from(await fresh.arrayBuffer()).toString("latin1")).toBe("RI");
  });
});
