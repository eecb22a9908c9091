// The core job path end to end: submit over HTTP, run on a simulated ComfyUI host, fetch the outputs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  orch = await startOrchestrator({ backends: [{ id: "sim-1", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

describe("a job that runs", () => {
  it("is accepted at once, then completes with outputs whose bytes equal the host's", async () => {
    const r = await api(orch.url, "POST", "/api/job", {
      workflow_id: "invert_image",
      parameters: { width: 48, height: 32, color: 0x102030 },
    });
    expect(r.status).toBe(202);
    expect(r.body).toMatchObject({ status: "queued", message: "Job queued for execution" });
    const job = await waitForJob(orch.url, r.body.job_id);
    expect(job.status).toBe("completed");
    expect(job.backend_id).toBe("sim-1");
    expect(job.attempt).toBe(1);
    expect(job.progress.percent).toBe(100);
    expect(job.started_at).toBeTruthy();
    expect(job.finished_at).toBeTruthy();
    expect(job.outputs).toHaveLength(1);
    const out = job.outputs[0];
    expect(out.content_type).toBe("image/png");

    const ours = await fetch(out.url);
    expect(ours.status).toBe(200);
    expect(ours.headers.get("content-type")).toBe("image/png");
    const ourBytes = Buffer.from(await ours.arrayBuffer());
    // The host saved it under the job id (filename_prefix is patched), in its output folder.
    const entry = Object.values(sim.history).find((h) => JSON.stringify(h.prompt).includes(job.job_id));
    const ref = (
      Object.values(entry!.outputs)[0] as { images: { filename: string; subfolder: string; type: string }[] }
    ).images[0]!;
    const theirs = await fetch(
      `${sim.url}/view?filename=${encodeURIComponent(ref.filename)}&subfolder=${ref.subfolder}&type=${ref.type}`,
    );
    expect(ourBytes.equals(Buffer.from(await theirs.arrayBuffer()))).toBe(true);
    expect(ourBytes.length).toBe(out.size);
  });

  it("runs the standard txt2img graph, records the random seed, and reports progress", async () => {
    const id = await submit(orch.url, {
      workflow_id: "txt2img_basic",
      parameters: { prompt: "sunset", steps: 6, width: 64, height: 64 },
    });
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    expect(typeof job.parameters.seed).toBe("number");
    expect(job.parameters.steps).toBe(6);
    const withGraph = await api(orch.url, "GET", `/api/job/${id}?include=graph`);
    expect(withGraph.body.graph["3"].inputs.seed).toBe(job.parameters.seed);
    expect(withGraph.body.graph["6"].inputs.text).toBe("sunset");
  });

  it("fails a job whose node raises, naming the node, its type and ComfyUI's message", async () => {
    sim.setFault({ kind: "execution_error", class_type: "ImageInvert", message: "bad pixels", count: 1 });
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 16, height: 16 } });
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("failed");
    expect(job.error.code).toBe("EXECUTION_ERROR");
    expect(job.error.details).toMatchObject({ node_id: "2", node_type: "ImageInvert" });
    expect(job.error.message).toContain("bad pixels");
    expect(job.attempt).toBe(1); // the workflow's fault: not retried
  });
});

describe("bad requests get a clear error and create nothing", () => {
  it("unknown workflow → 404 WORKFLOW_NOT_FOUND", async () => {
    expectError(await api(orch.url, "POST", "/api/job", { workflow_id: "nope" }), 404, "WORKFLOW_NOT_FOUND");
  });
  it("unknown parameter → 400 naming it and the known ones", async () => {
    const r = await api(orch.url, "POST", "/api/job", {
      workflow_id: "invert_image",
      parameters: { widht: 5 },
    });
    expectError(r, 400, "PARAMETER_INVALID");
    expect(r.body.error.details.fields[0].field).toBe("parameters.widht");
    expect(r.body.error.details.fields[0].message).toContain("width");
  });
  it("wrong type → 400, no silent coercion", async () => {
    const r = await api(orch.url, "POST", "/api/job", {
      workflow_id: "invert_image",
      parameters: { width: "512" },
    });
    expectError(r, 400, "PARAMETER_INVALID");
    expect(r.body.error.details.fields).toEqual([expect.objectContaining({ field: "parameters.width" })]);
  });
  it("manifest schema errors list every field", async () => {
    const r = await api(orch.url, "POST", "/api/job", { workflow_id: 7, priority: "high", extra: true });
    expectError(r, 400, "VALIDATION_FAILED");
    const fields = r.body.error.details.fields.map((f: { field: string }) => f.field).sort();
    expect(fields).toEqual(["extra", "priority", "workflow_id"]);
  });
  it("malformed JSON → 400 MALFORMED_JSON", async () => {
    expectError(await api(orch.url, "POST", "/api/job", '{"workflow_id": '), 400, "MALFORMED_JSON");
  });
  it("a body that is not an object → 400", async () => {
    expectError(await api(orch.url, "POST", "/api/job", "[1,2]"), 400, "VALIDATION_FAILED");
  });
  it("unknown job → 404 JOB_NOT_FOUND; unknown route → 404 NOT_FOUND", async () => {
    expectError(await api(orch.url, "GET", "/api/job/does-not-exist"), 404, "JOB_NOT_FOUND");
    expectError(await api(orch.url, "GET", "/api/nothing-here"), 404, "NOT_FOUND");
  });
  it("router-level mistakes (bad URL encoding, very long ids) get the same error body", async () => {
    expectError(await api(orch.url, "GET", "/api/job/%E0%A4%A"), 400, "VALIDATION_FAILED");
    expectError(await api(orch.url, "GET", `/api/job/${"x".repeat(150)}`), 404, "JOB_NOT_FOUND");
  });
  it("an output name that tries to leave the job's folder → 404", async () => {
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } });
    await waitForJob(orch.url, id);
    const r = await api(orch.url, "GET", `/api/job/${id}/outputs/..%2F..%2Forchestrator.db`);
    expectError(r, 404, "OUTPUT_NOT_FOUND");
  });
});

describe("listing", () => {
  it("lists newest first with cursor pagination and a status filter", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push(await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 8, height: 8 } }));
    for (const id of ids) await waitForJob(orch.url, id);
    const first = await api(orch.url, "GET", "/api/jobs?limit=2");
    expect(first.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual([ids[2], ids[1]]);
    // A page reads its jobs' outputs in one statement: each job's as its own view has them.
    for (const j of first.body.jobs as { job_id: string; outputs: unknown[] }[]) {
      expect(j.outputs.length).toBeGreaterThan(0);
      expect(j.outputs).toEqual((await api(orch.url, "GET", `/api/job/${j.job_id}`)).body.outputs);
    }
    const second = await api(orch.url, "GET", `/api/jobs?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.jobs[0].job_id).toBe(ids[0]);
    // The cursor is opaque; the bare seq older servers handed out still reads, and junk is refused.
    expect(first.body.next_cursor).not.toMatch(/^\d+$/);
    const seq = Buffer.from(first.body.next_cursor, "base64url").toString("utf8").slice(1);
    const legacy = await api(orch.url, "GET", `/api/jobs?limit=2&cursor=${seq}`);
    expect(legacy.body.jobs.map((j: { job_id: string }) => j.job_id)).toEqual(
      second.body.jobs.map((j: { job_id: string }) => j.job_id),
    );
    expectError(await api(orch.url, "GET", "/api/jobs?cursor=bm9wZQ"), 400, "VALIDATION_FAILED");
    const failed = await api(orch.url, "GET", "/api/jobs?status=failed&limit=100");
    expect(failed.body.jobs.every((j: { status: string }) => j.status === "failed")).toBe(true);
    expectError(await api(orch.url, "GET", "/api/jobs?status=bogus"), 400, "VALIDATION_FAILED");
    expectError(await api(orch.url, "GET", "/api/jobs?limit=0"), 400, "VALIDATION_FAILED");
  });
});

describe("health and backends", () => {
  it("reports backend state and capacity", async () => {
    const r = await api(orch.url, "GET", "/api/backends");
    expect(r.body.backends[0]).toMatchObject({
      id: "sim-1",
      status: "online",
      enabled: true,
      max_inflight: 2,
    });
    expect(r.body.backends[0].vram_total).toBeGreaterThan(0);
    expect(r.body.backends[0].node_classes).toBeGreaterThan(5);
    const h = await api(orch.url, "GET", "/api/health");
    expect(h.body).toMatchObject({ status: "ok", database: "ok", backends: { online: 1, total: 1 } });
  });
});
