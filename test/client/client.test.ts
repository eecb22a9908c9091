// The typed client against a real server and simulator: every operation, the event streams, and the errors
// it turns the server's answers into. Every answer it gets is also held to the OpenAPI document.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ConnectionError,
  type JobEvent,
  OrchestratorClient,
  OrchestratorError,
} from "../../src/client/index.js";
import { untilHealthy } from "../helpers/api.js";
import { checkComponent, contractFetch } from "../helpers/contract.js";
import { type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { pngInfo, solidPng } from "../media/media-helpers.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;
let client: OrchestratorClient;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  orch = await startOrchestrator({ backends: [{ id: "sim-1", url: sim.url }] });
  await untilHealthy(orch.url);
  client = new OrchestratorClient({ baseUrl: orch.url, fetch: contractFetch });
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

describe("OrchestratorClient", () => {
  it("submits JSON, waits over SSE seeing every event in order, and downloads the output", async () => {
    const accepted = await client.submit({
      workflow_id: "invert_image",
      parameters: { width: 24, height: 16 },
    });
    expect(accepted).toMatchObject({ status: "queued", created: true });
    const events: JobEvent[] = [];
    const job = await client.wait(accepted.job_id, { onEvent: (e) => events.push(e), timeoutMs: 20_000 });
    expect(job.status).toBe("completed");
    expect(events[0]!.type).toBe("job.snapshot");
    expect(events.at(-1)!.type).toBe("job.completed");
    // The documented event union describes what the stream really sends.
    for (const e of events) await checkComponent(orch.url, "JobEvent", e);
    const seqs = events.slice(1).map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const file = await client.download(job.outputs[0]!);
    expect(file.contentType).toBe("image/png");
    expect(pngInfo(Buffer.from(file.bytes))).toMatchObject({ width: 24, height: 16, rgb: 0xffffff });
    expect((await client.get(job.job_id)).outputs[0]!.sha256).toBe(job.outputs[0]!.sha256);
  });

  it("submits an image as multipart and gets the finished job with waitS", async () => {
    const job = await client.submit(
      { workflow_id: "scale_image", parameters: { width: 8, height: 8 } },
      { images: { image: solidPng(4, 4, 0x336699) }, waitS: 20 },
    );
    expect(job.status).toBe("completed");
    expect("outputs" in job && job.outputs).toHaveLength(1);
  });

  it("lists, cancels and controls backends", async () => {
    await client.backendAction("sim-1", "disable");
    const { job_id } = await client.submit({ workflow_id: "invert_image", parameters: {} });
    const page = await client.list({ status: ["queued"] });
    expect(page.jobs.map((j) => j.job_id)).toContain(job_id);
    expect((await client.cancel(job_id)).status).toBe("cancelled");
    expect((await client.cancel(job_id)).status).toBe("cancelled");
    const unknown = await client.cancel("no-such-job").catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OrchestratorError);
    expect(unknown).toMatchObject({ status: 404, code: "JOB_NOT_FOUND" });
    expect((await client.backendAction("sim-1", "enable")).enabled).toBe(true);
    expect((await client.backends()).backends[0]!.id).toBe("sim-1");
    expect((await client.workflows()).workflows.map((w) => w.id)).toContain("txt2img_basic");
    expect((await client.workflow("txt2img_basic")).parameters_schema).toBeTruthy();
    expect(["ok", "degraded"]).toContain((await client.health()).status);
  });

  it("follows jobs over the WebSocket with typed messages", async () => {
    const socket = await client.socket();
    try {
      const { job_id } = await client.submit({
        workflow_id: "invert_image",
        parameters: { width: 8, height: 8 },
      });
      socket.subscribe({ job_ids: [job_id] });
      const types: string[] = [];
      for await (const m of socket.messages()) {
        types.push(m.type);
        await checkComponent(orch.url, "WsServerMessage", m);
        if (m.type === "job.completed" || m.type === "job.failed") break;
        if (m.type === "job.snapshot" && m.job.status !== "queued" && m.job.finished_at) break;
      }
      expect(types[0]).toBe("job.snapshot");
      expect(types).toContain("subscribed");
      expect(types.at(-1)).toBe("job.completed");
    } finally {
      socket.close();
    }
  });

  it("turns a rejected submit into an OrchestratorError naming the field", async () => {
    const err = await client
      .submit({ workflow_id: "invert_image", parameters: { width: "wide" } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OrchestratorError);
    expect(err).toMatchObject({ status: 400, code: "PARAMETER_INVALID" });
    expect((err as OrchestratorError).fields[0]!.field).toBe("parameters.width");
  });

  it("reports a server it cannot reach as a ConnectionError", async () => {
    const down = new OrchestratorClient({ baseUrl: "http://127.0.0.1:9", timeoutMs: 2000 });
    await expect(down.health()).rejects.toBeInstanceOf(ConnectionError);
  });
});
