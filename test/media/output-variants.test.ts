// ?format=&width=&quality= on an output download: a converted copy made with sharp, cached, the original untouched.
import { createHash } from "node:crypto";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;
let job: { job_id: string; outputs: { url: string; sha256: string; size: number }[] };

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
  orch = await startOrchestrator({ backends: [{ id: "s", url: sim.url }] });
  await untilHealthy(orch.url);
  const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 128, height: 96 } });
  job = await waitForJob(orch.url, id);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

const get = async (url: string) => {
  const res = await fetch(url);
  return { res, bytes: Buffer.from(await res.arrayBuffer()) };
};

describe("output variants", () => {
  it("?format=webp&width=64 is a WebP 64 px wide, cached, and the original is untouched", async () => {
    const out = job.outputs[0]!;
    const { res, bytes } = await get(`${out.url}?format=webp&width=64`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("image/webp");
    expect(res.headers.get("content-disposition")).toContain(".w64.q80.webp");
    const meta = await sharp(bytes).metadata();
    expect(meta).toMatchObject({ format: "webp", width: 64, height: 48 });
    expect(Number(res.headers.get("content-length"))).toBe(bytes.length);

    const again = await get(`${out.url}?format=webp&width=64`);
    expect(again.bytes.equals(bytes)).toBe(true);
    expect(again.res.headers.get("etag")).toBe(res.headers.get("etag"));
    expect(res.headers.get("etag")).not.toBe(`"${out.sha256}"`);

    const original = await get(out.url);
    expect(original.res.headers.get("content-type")).toBe("image/png");
    expect(createHash("sha256").update(original.bytes).digest("hex")).toBe(out.sha256);
    expect(original.bytes.length).toBe(out.size);
  });

  it("JPEG quality changes the bytes; width alone keeps the format; never scales up", async () => {
    const out = job.outputs[0]!;
    const low = await get(`${out.url}?format=jpg&quality=10`);
    const high = await get(`${out.url}?format=jpeg&quality=95`);
    expect(low.res.headers.get("content-type")).toBe("image/jpeg");
    expect((await sharp(low.bytes).metadata()).format).toBe("jpeg");
    expect(low.bytes.length).toBeLessThan(high.bytes.length);
    const narrow = await get(`${out.url}?width=32`);
    expect(await sharp(narrow.bytes).metadata()).toMatchObject({ format: "png", width: 32 });
    const wide = await get(`${out.url}?width=4000`);
    expect((await sharp(wide.bytes).metadata()).width).toBe(128);
  });

  it("bad values are a 400 naming the query field", async () => {
    const path = new URL(job.outputs[0]!.url).pathname;
    for (const [query, field] of [
      ["format=gif", "query.format"],
      ["format=webp&width=0", "query.width"],
      ["width=abc", "query.width"],
      ["format=webp&quality=101", "query.quality"],
    ] as const) {
      const r = await api(orch.url, "GET", `${path}?${query}`);
      expectError(r, 400, "VALIDATION_FAILED");
      expect(r.body.error.details.fields.map((f: { field: string }) => f.field)).toEqual([field]);
    }
  });
});
