// Fair share: at equal priority dispatch alternates between owners (API keys), so a client with a long
// queue cannot make another client's few jobs wait behind all of it; a higher priority still goes first.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { submit } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { bearer, KEYS, startKeyed, WsClient } from "./auth-helpers.js";

let sims: Simulator[];
let orch: RunningOrchestrator;

beforeAll(async () => {
  // Each job runs ~10 steps × 10 ms, long against a submit (about a millisecond), so the queue stays full.
  sims = await Promise.all([startSimulator({ stepMs: 10 }), startSimulator({ stepMs: 10 })]);
  const dir = makeTestDir();
  writeWorkflow(dir, "slow", slowWorkflow);
  orch = await startKeyed({
    dir,
    backends: sims.map((s, i) => ({ id: `gpu-${i}`, url: s.url, max_inflight: 1 })),
    auth: {
      keys: [
        { id: "admin", key: KEYS.admin, role: "admin" },
        { id: "a", key: KEYS.alice, role: "submit" },
        { id: "b", key: KEYS.bob, role: "submit" },
      ],
      defaults: { rate_limit_per_min: 0, max_queued: 0 },
    },
  });
});
afterAll(async () => {
  await orch?.stop();
  await Promise.all(sims.map((s) => s.close()));
});

describe("fair share between keys", () => {
  it("A submits 200, then B submits 5, on 2 hosts: each of B's jobs starts within the next 4 dispatches", async () => {
    const events = await WsClient.open(orch.url, bearer(KEYS.admin));
    events.send({ type: "subscribe", all: true });
    await events.until((m) => m.type === "subscribed");
    const job = (steps: number, priority = 0) => ({ workflow_id: "slow", parameters: { steps }, priority });

    const aJobs = new Set<string>();
    for (let i = 0; i < 200; i++) aJobs.add(await submit(orch.url, job(10), bearer(KEYS.alice)));
    const bJobs: string[] = [];
    for (let i = 0; i < 5; i++) bJobs.push(await submit(orch.url, job(10), bearer(KEYS.bob)));
    // Then A asks for one job at a higher priority: it goes before both owners' priority-0 jobs.
    const urgent = await submit(orch.url, job(10, 1), bearer(KEYS.alice));
    for (const id of bJobs)
      await events.until((m) => m.type === "job.dispatched" && m.job_id === id, id, 30_000);

    const queuedSeq = (id: string) =>
      events.messages.find((m) => m.type === "job.queued" && m.job_id === id).seq;
    const dispatched = events.messages.filter((m) => m.type === "job.dispatched");
    const dispatchedSince = (seq: number) =>
      dispatched.filter((m) => m.seq > seq).map((m) => m.job_id as string);
    const sinceB = dispatchedSince(queuedSeq(bJobs[0]!));
    const positions = bJobs.map((id) => sinceB.indexOf(id) + 1);
    expect(positions[0]!, `B's dispatch positions ${positions}`).toBeLessThanOrEqual(4);
    for (let k = 1; k < positions.length; k++) {
      expect(positions[k]! - positions[k - 1]!, `B's dispatch positions ${positions}`).toBeLessThanOrEqual(4);
    }
    // The dispatches between B's were A's: A was not starved either.
    const between = sinceB.slice(0, positions[4]! - 1).filter((id) => !bJobs.includes(id) && id !== urgent);
    expect(between.length).toBeGreaterThan(0);
    expect(between.every((id) => aJobs.has(id))).toBe(true);
    // Priority wins across levels: the urgent job took the first dispatch after it was queued.
    expect(dispatchedSince(queuedSeq(urgent)).indexOf(urgent)).toBeLessThanOrEqual(1);
    events.close();
  }, 90_000);
});
