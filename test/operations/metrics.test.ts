// GET /metrics: valid Prometheus text whose job, host and HTTP series move when a job runs.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { sampleValue, scrape } from "../helpers/prometheus.js";
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

describe("GET /metrics", () => {
  it("counts a job's submit, completion, duration and host, and labels requests by route pattern", async () => {
    const before = (await scrape(orch.url)).samples;
    const wf = { workflow: "invert_image" };
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 16, height: 16 } });
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    expect((await api(orch.url, "GET", `/api/job/${id}`)).status).toBe(200);

    const { samples, text, type } = await scrape(orch.url);
    expect(type).toContain("text/plain");
    const delta = (name: string, labels: Record<string, string> = {}) =>
      sampleValue(samples, name, labels) - sampleValue(before, name, labels);
    expect(delta("orchestrator_jobs_submitted_total", wf)).toBe(1);
    expect(delta("orchestrator_jobs_completed_total", wf)).toBe(1);
    expect(delta("orchestrator_job_duration_seconds_count", { ...wf, backend: "sim-1" })).toBe(1);
    expect(delta("orchestrator_job_queue_wait_seconds_count", { ...wf, backend: "sim-1" })).toBe(1);
    expect(delta("orchestrator_job_attempts_total", { backend: "sim-1" })).toBe(1);
    expect(delta("orchestrator_dispatch_latency_seconds_count", { backend: "sim-1" })).toBe(1);
    expect(delta("orchestrator_backend_jobs_total", { backend: "sim-1", outcome: "completed" })).toBe(1);
    expect(sampleValue(samples, "orchestrator_backend_state", { backend: "sim-1", state: "online" })).toBe(1);
    expect(sampleValue(samples, "orchestrator_backend_state", { backend: "sim-1", state: "offline" })).toBe(
      0,
    );
    expect(
      sampleValue(samples, "orchestrator_backend_vram_total_bytes", { backend: "sim-1" }),
    ).toBeGreaterThan(0);
    expect(sampleValue(samples, "orchestrator_jobs_queued", { priority_band: "normal" })).toBe(0);
    expect(
      delta("orchestrator_http_requests_total", { method: "GET", route: "/api/job/:id", status: "200" }),
    ).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
    // Bounded labels: no job id anywhere in the exposition.
    expect(text).not.toContain(id);
  });

  it("counts failures by workflow and error code", async () => {
    const before = (await scrape(orch.url)).samples;
    sim.setFault({ kind: "execution_error", class_type: "ImageInvert", message: "bad pixels", count: 1 });
    // Other parameters than the first test's: the host would answer an identical graph from its cache.
    const id = await submit(orch.url, { workflow_id: "invert_image", parameters: { width: 24, height: 16 } });
    expect((await waitForJob(orch.url, id)).status).toBe("failed");
    const after = (await scrape(orch.url)).samples;
    const labels = { workflow: "invert_image", code: "EXECUTION_ERROR" };
    expect(
      sampleValue(after, "orchestrator_jobs_failed_total", labels) -
        sampleValue(before, "orchestrator_jobs_failed_total", labels),
    ).toBe(1);
  });

  it("gauges the queue by priority band", async () => {
    expect((await api(orch.url, "POST", "/api/backends/sim-1/disable")).status).toBe(200);
    const ids: string[] = [];
    for (const [priority, width] of [
      [5, 20],
      [1, 22],
      [0, 26],
      [-3, 28],
    ] as const)
      ids.push(
        await submit(orch.url, { workflow_id: "invert_image", priority, parameters: { width, height: 16 } }),
      );
    const { samples } = await scrape(orch.url);
    const queued = (band: string) =>
      sampleValue(samples, "orchestrator_jobs_queued", { priority_band: band });
    expect([queued("high"), queued("normal"), queued("low")]).toEqual([2, 1, 1]);
    expect(sampleValue(samples, "orchestrator_jobs_running", { priority_band: "high" })).toBe(0);
    expect((await api(orch.url, "POST", "/api/backends/sim-1/enable")).status).toBe(200);
    for (const id of ids) expect((await waitForJob(orch.url, id)).status).toBe("completed");
    const after = (await scrape(orch.url)).samples;
    expect(sampleValue(after, "orchestrator_jobs_queued", { priority_band: "high" })).toBe(0);
  });

  it("returns a request id on every response, and echoes a client's own", async () => {
    const r = await api(orch.url, "GET", "/api/health");
    expect(r.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const own = await api(orch.url, "GET", "/api/nope", undefined, { "x-request-id": "trace-42" });
    expect(own.status).toBe(404);
    expect(own.headers.get("x-request-id")).toBe("trace-42");
    const hostile = await api(orch.url, "GET", "/api/health", undefined, { "x-request-id": 'a b"c' });
    expect(hostile.headers.get("x-request-id")).not.toBe('a b"c');
  });
});
