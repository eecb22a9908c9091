// Image inputs that are refused with a 400 naming the parameter: URLs into loopback or private networks
// (never connected to), redirects there, non-images and oversize images in every form.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError } from "../helpers/api.js";
import type { RunningOrchestrator } from "../helpers/orchestrator.js";
import { padPng } from "../sim/png-chunks.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import {
  type ImageServer,
  postForm,
  solidPng,
  startImageServer,
  startMediaOrchestrator,
} from "./media-helpers.js";

const LIMIT = 50_000;
const small = solidPng(4, 4, 0x808080);
const big = padPng(solidPng(4, 4, 0x808080), LIMIT + 1000);
const text = Buffer.from("this is a text file, not an image\n".repeat(4));

let sim: Simulator;
let images: ImageServer;
/** Default media config: no allowlist. */
let closed: RunningOrchestrator;
/** 127.0.0.1 allowlisted, images limited to LIMIT bytes. */
let open: RunningOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  images = await startImageServer({
    "/small.png": { type: "image/png", body: small },
    "/big.png": { type: "image/png", body: big },
    "/notes.txt": { type: "image/png", body: text },
    "/to-private": { redirect: "http://10.0.0.1/x.png" },
    "/to-metadata": { redirect: "http://169.254.169.254/latest/meta-data" },
    "/loop": { redirect: "/loop" },
  });
  const backends = [{ id: "sim-1", url: sim.url }];
  [closed, open] = await Promise.all([
    startMediaOrchestrator({ backends }),
    startMediaOrchestrator({
      backends,
      media: { url_allowlist: ["127.0.0.1"], max_image_mb: LIMIT / 1024 / 1024 },
    }),
  ]);
});
afterAll(async () => {
  await closed?.stop();
  await open?.stop();
  await images?.close();
  await sim?.close();
});

async function refused(orch: RunningOrchestrator, image: string, message: RegExp) {
  const r = await api(orch.url, "POST", "/api/job", { workflow_id: "scale_image", parameters: { image } });
  expectError(r, 400, "MEDIA_INVALID");
  expect(r.body.error.details.fields).toHaveLength(1);
  expect(r.body.error.details.fields[0].field).toBe("parameters.image");
  expect(r.body.error.details.fields[0].message).toMatch(message);
}

describe("URLs into private networks", () => {
  it.each([
    ["127.0.0.1", () => `${images.url}/small.png`],
    ["localhost", () => `${images.url.replace("127.0.0.1", "localhost")}/small.png`],
    ["IPv4-mapped IPv6", () => `${images.url.replace("127.0.0.1", "[::ffff:127.0.0.1]")}/small.png`],
    ["0.0.0.0", () => `${images.url.replace("127.0.0.1", "0.0.0.0")}/small.png`],
    ["10/8", () => "http://10.0.0.1/x.png"],
    ["link-local", () => "http://169.254.169.254/latest/meta-data"],
  ])("refuses %s without connecting", async (_what, url) => {
    await refused(closed, url(), /private or reserved address/);
    expect(images.hits).toEqual([]);
  });

  it("reaches an allowlisted address, but not a private one it redirects to", async () => {
    await refused(open, `${images.url}/to-private`, /10\.0\.0\.1 is a private or reserved address/);
    await refused(open, `${images.url}/to-metadata`, /169\.254\.169\.254/);
    expect(images.hits).toEqual(["/to-private", "/to-metadata"]);
  });

  it("gives up after a few redirects", async () => {
    await refused(open, `${images.url}/loop`, /more than 5 redirects/);
  });

  it("reports an error status of the image server", async () => {
    await refused(open, `${images.url}/missing.png`, /HTTP 404/);
  });
});

describe("content and size checks", () => {
  it("refuses bytes that are not an image, in every form", async () => {
    await refused(open, text.toString("base64"), /not a PNG, JPEG, WebP or GIF image/);
    await refused(open, `data:image/png;base64,${text.toString("base64")}`, /not a PNG/);
    await refused(open, `${images.url}/notes.txt`, /not a PNG/);
  });

  it("refuses an image over media.max_image_mb, in every form", async () => {
    await refused(open, big.toString("base64"), /50000 bytes|limit is 50000/);
    await refused(open, `${images.url}/big.png`, /50000 bytes|limit is 50000/);
    const r = await postForm(open.url, [
      { name: "manifest", value: JSON.stringify({ workflow_id: "scale_image" }), type: "application/json" },
      { name: "image", value: big, filename: "big.png", type: "image/png" },
    ]);
    expectError(r, 400, "MEDIA_INVALID");
    expect(r.body.error.details.fields).toEqual([
      { field: "parameters.image", message: `image is larger than ${LIMIT} bytes` },
    ]);
  });

  it("still accepts an image under the limit", async () => {
    const r = await api(open.url, "POST", "/api/job", {
      workflow_id: "scale_image",
      parameters: { image: `${images.url}/small.png` },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
  });
});
