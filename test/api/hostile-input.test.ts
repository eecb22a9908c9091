// Hostile input that used to get through: over-deep metadata and parameters, a forged Host header, `job:`
// references to folders that are no job's output, strings aimed at a host's file inputs, and output names
// no header can carry as they are.

import { mkdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, submit, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator } from "../helpers/orchestrator.js";
import { writeWorkflow } from "../helpers/workflows.js";
import { solidPng, startMediaOrchestrator } from "../media/media-helpers.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;

/** Arrays nested `depth` deep, as JSON text (building it as a value would overflow our own stack). */
const nestedJson = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;
const nested = (depth: number) => JSON.parse(nestedJson(depth));
// A bare export: every literal input is a parameter, including LoadImage's file name.
const LOAD_IMAGE_EXPORT = {
  "1": { class_type: "LoadImage", inputs: { image: "example.png" } },
  "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: "loaded" } },
};
const saveAs = (prefix: string) => ({
  graph: {
    "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: prefix } },
  },
});

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
  const dir = makeTestDir();
  writeWorkflow(dir, "load_image_export", LOAD_IMAGE_EXPORT);
  writeWorkflow(dir, "load_image_string", {
    parameters: { file: { type: "string", targets: ["1.image"], default: "example.png" } },
    graph: LOAD_IMAGE_EXPORT,
  });
  writeWorkflow(dir, "unicode_names", saveAs("évil ünïcode 😀"));
  writeWorkflow(dir, "cjk_names", saveAs("图片"));
  writeWorkflow(dir, "plain", saveAs("plain"));
  orch = await startMediaOrchestrator({ dir, backends: [{ id: "sim-1", url: sim.url }] });
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

describe("metadata and parameter limits", () => {
  it("refuses metadata nested too deep with a 400 naming metadata", async () => {
    const r = await api(
      orch.url,
      "POST",
      "/api/job",
      `{"workflow_id":"plain","metadata":{"a":${nestedJson(4187)}}}`,
    );
    expectError(r, 400, "VALIDATION_FAILED");
    expect(JSON.stringify(r.body.error.details)).toContain("metadata");
    expect(r.body.error.message).toMatch(/deeper than 32/);
    expectError(
      await api(
        orch.url,
        "POST",
        "/api/job",
        `{"workflow_id":"plain","metadata":{"a":${nestedJson(10_000)}}}`,
      ),
      400,
      "VALIDATION_FAILED",
    );
  });

  it("refuses oversized metadata, and a parameter nested 10,000 deep, naming the field", async () => {
    const big = await api(orch.url, "POST", "/api/job", {
      workflow_id: "plain",
      metadata: { blob: "x".repeat(70 * 1024) },
    });
    expectError(big, 400, "VALIDATION_FAILED");
    expect(big.body.error.message).toMatch(/metadata.*limit is 65536/);
    const deep = await api(
      orch.url,
      "POST",
      "/api/job",
      `{"workflow_id":"plain","parameters":{"2.filename_prefix":${nestedJson(10_000)}}}`,
    );
    expectError(deep, 400, "VALIDATION_FAILED");
    expect(deep.body.error.details.fields[0].field).toBe("parameters.2.filename_prefix");
  });

  it("metadata within the limits comes back as sent", async () => {
    const metadata = { shot: "A12", tags: nested(30) };
    const id = await submit(orch.url, { workflow_id: "plain", metadata });
    expect((await waitForJob(orch.url, id)).metadata).toEqual(metadata);
  });

  it("a row stored before the limit existed does not break reads of it or of the list", async () => {
    const id = await submit(orch.url, { workflow_id: "plain", metadata: { a: 1 } });
    await waitForJob(orch.url, id);
    orch.app.db.prepare("UPDATE jobs SET metadata = ? WHERE id = ?").run(`{"a":${nestedJson(5000)}}`, id);
    const one = await api(orch.url, "GET", `/api/job/${id}`);
    expect(one.status).toBe(200);
    expect(one.body.metadata.unreadable).toMatch(/deeper than 32/);
    const list = await api(orch.url, "GET", "/api/jobs?limit=200");
    expect(list.status).toBe(200);
    expect(list.body.jobs.some((j: any) => j.job_id === id)).toBe(true);
  });
});

describe("Host header", () => {
  const getJob = (id: string, host: string) =>
    new Promise<any>((resolve, reject) => {
      const u = new URL(orch.url);
      const req = http.request(
        { host: u.hostname, port: u.port, path: `/api/job/${id}`, headers: { host } },
        (res) => {
          let body = "";
          res.on("data", (d) => {
            body += d;
          });
          res.on("end", () => resolve(JSON.parse(body)));
        },
      );
      req.on("error", reject);
      req.end();
    });

  it("is not reflected into output URLs unless it is a plain host[:port]", async () => {
    const id = await submit(orch.url, { workflow_id: "plain" });
    await waitForJob(orch.url, id);
    const evil = await getJob(id, 'evil.example"><x');
    expect(evil.outputs[0].url.startsWith(`${orch.url}/api/job/`)).toBe(true);
    const proxied = await getJob(id, "images.example.com:8443");
    expect(proxied.outputs[0].url.startsWith("http://images.example.com:8443/api/job/")).toBe(true);
  });
});

describe("job: references", () => {
  it("must name a recorded output of an existing job, not any folder under outputs/", async () => {
    const folder = path.join(orch.dir, "data", "outputs", "not-a-job");
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, "x.png"), solidPng(4, 4, 0xff0000));
    const r = await api(orch.url, "POST", "/api/job", {
      workflow_id: "scale_image",
      parameters: { image: "job:not-a-job/x.png", width: 4, height: 4 },
    });
    expectError(r, 400, "MEDIA_INVALID");
    expect(r.body.error.message).toMatch(/parameters\.image: job not-a-job has no recorded output/);
  });
});

describe("file inputs", () => {
  it("refuses a string aimed at a host file, whatever it names", async () => {
    for (const name of ["../../../../etc/passwd", "other_job_upload.png", "earlier.png [output]"]) {
      const r = await api(orch.url, "POST", "/api/job", {
        workflow_id: "load_image_export",
        parameters: { "1.image": name },
      });
      expectError(r, 400, "MEDIA_INVALID");
      expect(r.body.error.details.fields[0].field).toBe("parameters.1.image");
    }
  });

  it("refuses a definition's string parameter aimed at a file input when a client sets it", async () => {
    const r = await api(orch.url, "POST", "/api/job", {
      workflow_id: "load_image_string",
      parameters: { file: "../../../../etc/passwd" },
    });
    expectError(r, 400, "PARAMETER_INVALID");
    expect(r.body.error.details.fields[0].field).toBe("parameters.file");
    expect(r.body.error.message).toMatch(/file inputs take only media uploaded with the job/);
  });

  it("takes an image the client sends, which Orchestrator uploads for the job", async () => {
    const png = solidPng(6, 6, 0x00ff00).toString("base64");
    const r = await api(orch.url, "POST", "/api/job?wait=20", {
      workflow_id: "load_image_export",
      parameters: { "1.image": png },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.status).toBe("completed");
    expect(r.body.parameters["1.image"]).toBe("upload:1.image.png");
  });
});

describe("non-ASCII output names", () => {
  for (const [workflow, prefix] of [
    ["unicode_names", "évil ünïcode 😀"],
    ["cjk_names", "图片"],
  ] as const) {
    it(`serves ${prefix}… with a percent-encoded URL and an RFC 5987 filename*`, async () => {
      const r = await api(orch.url, "POST", "/api/job?wait=20", { workflow_id: workflow });
      expect(r.body.status, JSON.stringify(r.body.error)).toBe("completed");
      const out = r.body.outputs[0];
      expect(out.filename.startsWith(prefix)).toBe(true);
      expect(out.url).toContain(encodeURIComponent(out.filename));
      const res = await fetch(out.url);
      expect(res.status).toBe(200);
      expect(
        Buffer.from(await res.arrayBuffer())
          .subarray(1, 4)
          .toString(),
      ).toBe("PNG");
      const cd = res.headers.get("content-disposition")!;
      expect(cd).toContain(`filename*=UTF-8''${encodeURIComponent(out.filename)}`);
      expect(/^[\x20-\x7e]*$/.test(cd)).toBe(true);
    });
  }
});
