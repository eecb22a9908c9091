// Every form of an `image` parameter, through the simulator's LoadImage → ImageScale → SaveImage and back:
// base64, data: URL, an allowlisted http URL, a curl-shaped multipart upload, and an earlier job's output.
// Each input has its own colour, so the output proves which bytes the host loaded.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import {
  type ImageServer,
  type JobJson,
  pngInfo,
  postForm,
  solidPng,
  startImageServer,
  startMediaOrchestrator,
} from "./media-helpers.js";

let sim: Simulator;
let orch: RunningOrchestrator;
let images: ImageServer;
const fromUrl = solidPng(20, 10, 0x3366cc);

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  images = await startImageServer({
    "/photo.png": { type: "image/png", body: fromUrl },
    "/moved": { redirect: "/photo.png" },
  });
  orch = await startMediaOrchestrator({
    backends: [{ id: "sim-1", url: sim.url }],
    media: { url_allowlist: ["127.0.0.1"] },
  });
});
afterAll(async () => {
  await orch?.stop();
  await images?.close();
  await sim?.close();
});

/** Submits with ?wait and returns the finished job (its output checked to be the scaled input). */
async function scale(image: string, width: number, height: number, rgb: number) {
  const r = await api(orch.url, "POST", "/api/job?wait=20", {
    workflow_id: "scale_image",
    parameters: { image, width, height },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return expectScaled(r.body, width, height, rgb);
}

async function expectScaled(job: JobJson, width: number, height: number, rgb: number) {
  expect(job.status, JSON.stringify(job.error)).toBe("completed");
  expect(job.outputs).toHaveLength(1);
  const res = await fetch(job.outputs[0]!.url);
  expect(res.status).toBe(200);
  expect(pngInfo(Buffer.from(await res.arrayBuffer()))).toEqual({ width, height, rgb });
  return job;
}

describe("image parameter forms", () => {
  it("accepts base64, and a later job can use its output as job:<id>/<filename>", async () => {
    const first = await scale(solidPng(8, 8, 0xff8800).toString("base64"), 32, 24, 0xff8800);
    expect(first.parameters.image).toBe("upload:image.png");
    const ref = `job:${first.job_id}/${first.outputs[0]!.filename}`;
    const second = await scale(ref, 12, 12, 0xff8800);
    expect(second.parameters.image).toBe(ref);
  });

  it("accepts a data: URL", async () => {
    await scale(`data:image/png;base64,${solidPng(6, 6, 0x11aa22).toString("base64")}`, 16, 16, 0x11aa22);
  });

  it("fetches an allowlisted http URL, following a redirect", async () => {
    const job = await scale(`${images.url}/moved`, 40, 20, 0x3366cc);
    expect(job.parameters.image).toBe(`${images.url}/moved`);
    expect(images.hits).toEqual(["/moved", "/photo.png"]);
  });

  it("accepts a multipart upload shaped as curl -F sends it", async () => {
    const manifest = JSON.stringify({ workflow_id: "scale_image", parameters: { width: 64, height: 8 } });
    const r = await postForm(
      orch.url,
      [
        { name: "manifest", value: manifest, type: "application/json" },
        { name: "image", value: solidPng(4, 4, 0xabcdef), filename: "photo.png", type: "image/png" },
      ],
      "?wait=20",
    );
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await expectScaled(r.body, 64, 8, 0xabcdef);
    expect(r.body.parameters.image).toBe("upload:image.png");
  });

  it("accepts a multipart manifest sent as a plain field or as a file", async () => {
    const manifest = JSON.stringify({ workflow_id: "scale_image", parameters: { width: 10, height: 10 } });
    const png = solidPng(4, 4, 0x010203);
    for (const m of [
      { name: "manifest", value: manifest },
      { name: "manifest", value: manifest, filename: "job.json", type: "application/json" },
    ]) {
      const r = await postForm(orch.url, [
        m,
        { name: "image", value: png, filename: "a.png", type: "application/octet-stream" },
      ]);
      expect(r.status, JSON.stringify(r.body)).toBe(202);
    }
  });
});

describe("rejected multipart submits name the field", () => {
  const png = solidPng(4, 4, 0);
  const manifest = (parameters: object) => JSON.stringify({ workflow_id: "scale_image", parameters });
  const cases: [string, Parameters<typeof postForm>[1], string][] = [
    ["no manifest", [{ name: "image", value: png, filename: "p.png" }], "manifest"],
    [
      "a manifest that is not JSON",
      [
        { name: "manifest", value: "{nope" },
        { name: "image", value: png, filename: "p.png" },
      ],
      "manifest",
    ],
    [
      "bad JSON declared as JSON",
      [{ name: "manifest", value: "{nope", type: "application/json" }],
      "manifest",
    ],
    [
      "a file for an unknown parameter",
      [
        { name: "manifest", value: manifest({}) },
        { name: "image", value: png, filename: "p.png" },
        { name: "mask", value: png, filename: "m.png" },
      ],
      "parameters.mask",
    ],
    [
      "a file for a non-image parameter",
      [
        { name: "manifest", value: manifest({}) },
        { name: "width", value: png, filename: "w.png" },
      ],
      "parameters.width",
    ],
    [
      "an image both in the manifest and as a file",
      [
        { name: "manifest", value: manifest({ image: "x" }) },
        { name: "image", value: png, filename: "p.png" },
      ],
      "parameters.image",
    ],
    [
      "a stray text field",
      [
        { name: "manifest", value: manifest({}) },
        { name: "width", value: "64" },
      ],
      "width",
    ],
  ];
  it.each(cases)("%s", async (_what, parts, field) => {
    const r = await postForm(orch.url, parts);
    expectError(r, 400, "VALIDATION_FAILED");
    expect(r.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
  });

  it("a non-image file part is MEDIA_INVALID for its parameter", async () => {
    const r = await postForm(orch.url, [
      { name: "manifest", value: manifest({}) },
      { name: "image", value: "just some text, not a picture", filename: "notes.txt", type: "text/plain" },
    ]);
    expectError(r, 400, "MEDIA_INVALID");
    expect(r.body.error.details.fields).toEqual([
      { field: "parameters.image", message: "not a PNG, JPEG, WebP or GIF image" },
    ]);
  });
});
