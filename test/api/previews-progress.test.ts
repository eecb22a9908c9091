// Live previews and progress from a stock v0.8 host: it renders previews only for prompts that ask
// (extra_data.preview_method), sends them as type-4 frames to a client that negotiated preview metadata,
// and reports every node in progress_state, so the overall percent reaches the end before the job does.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;
beforeAll(async () => {
  sim = await startSimulator({ stepMs: 5 });
  const dir = makeTestDir();
  writeWorkflow(dir, "slow", slowWorkflow);
  orch = await startOrchestrator({ dir, backends: [{ id: "s", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

/** A /api/ws client following every job. */
async function follow(previews: boolean) {
  const ws = new WebSocket(`${orch.url.replace(/^http/, "ws")}/api/ws`);
  const messages: any[] = [];
  const frames: Buffer[] = [];
  ws.on("message", (data, isBinary) => {
    if (isBinary) frames.push(data as Buffer);
    else messages.push(JSON.parse(data.toString()));
  });
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  ws.send(JSON.stringify({ type: "subscribe", all: true, previews }));
  await waitUntil(() => messages.some((m) => m.type === "subscribed"));
  // A clean close: once the server has answered it, the subscription is gone.
  const close = () => new Promise((resolve) => ws.once("close", resolve).close());
  return { ws, messages, frames, close };
}

async function waitUntil(cond: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const extraOf = (promptId: string) => sim.history[promptId]?.prompt[3] as Record<string, unknown>;

describe("previews from a stock host", () => {
  it("asks for them when someone subscribed, and takes type-4 frames naming the prompt", async () => {
    const c = await follow(true);
    try {
      const id = await submit(orch.url, { workflow_id: "slow", parameters: { steps: 4 } });
      await waitUntil(() => c.messages.some((m) => m.type === "job.completed" && m.job_id === id));
      const job = await waitForJob(orch.url, id);
      expect(extraOf(job.prompt_id)).toMatchObject({ preview_method: "auto" });
      expect(sim.stats.previewsWithMetadata).toBeGreaterThan(0);
      expect(sim.stats.previews).toBe(0);
      expect(c.frames.length).toBeGreaterThan(0);
      const frame = c.frames[0]!;
      const len = frame.readUInt32BE(0);
      expect(JSON.parse(frame.subarray(4, 4 + len).toString())).toEqual({
        type: "job.preview",
        job_id: id,
        content_type: "image/jpeg",
      });
    } finally {
      await c.close();
    }
  });

  it("does not ask when nobody follows the job's previews", async () => {
    const id = await submit(orch.url, { workflow_id: "slow", parameters: { steps: 2 } });
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    expect(extraOf(job.prompt_id)).not.toHaveProperty("preview_method");
  });
});

describe("overall progress", () => {
  it("rises steadily and counts the last node's end before the job completes", async () => {
    const c = await follow(false);
    try {
      const id = await submit(orch.url, { workflow_id: "slow", parameters: { steps: 6 } });
      await waitUntil(() => c.messages.some((m) => m.type === "job.completed" && m.job_id === id));
      const percents = c.messages
        .filter((m) => m.type === "job.progress" && m.job_id === id)
        .map((m) => m.percent as number);
      expect(percents.length).toBeGreaterThan(3);
      for (let i = 1; i < percents.length; i++) expect(percents[i]).toBeGreaterThanOrEqual(percents[i - 1]!);
      // The save node's end is reported (progress_state "finished"), not only its start.
      expect(percents.at(-1)).toBeGreaterThanOrEqual(99);
    } finally {
      await c.close();
    }
  });
});
