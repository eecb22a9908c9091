// A project across two hosts: a stage runs where its workflow can, with its input uploaded there; node
// events on the project's stream, one terminal event, one webhook at the end.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { type Receiver, startDeliveryOrchestrator, startReceiver } from "../delivery/delivery-helpers.js";
import { eventually, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, REPO, type RunningOrchestrator } from "../helpers/orchestrator.js";
import { writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { download } from "./project-helpers.js";

let gen: Simulator;
let up: Simulator;
let orch: RunningOrchestrator;
let receiver: Receiver;

/** A shipped workflow that only hosts with `capability` may run. */
function restricted(dir: string, id: string, from: string, capability: string) {
  const def = JSON.parse(readFileSync(path.join(REPO, "data", "workflows", `${from}.json`), "utf8"));
  writeWorkflow(dir, id, { ...def, requires: [capability] });
}

beforeAll(async () => {
  [gen, up] = await Promise.all([startSimulator({ stepMs: 2 }), startSimulator({ stepMs: 2 })]);
  receiver = await startReceiver();
  const dir = makeTestDir();
  restricted(dir, "gen_only", "txt2img_basic", "gen");
  restricted(dir, "up_only", "scale_image", "up");
  orch = await startDeliveryOrchestrator({
    dir,
    backends: [
      { id: "gen", url: gen.url, capabilities: ["gen"] },
      { id: "up", url: up.url, capabilities: ["up"] },
    ],
  });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await Promise.all([gen?.close(), up?.close(), receiver?.close()]);
});

/** Follows every job over the WebSocket from before the submit, so no early event is missed. */
async function follow(base: string): Promise<{ until: (id: string) => Promise<any[]>; close: () => void }> {
  const ws = new WebSocket(`${base.replace("http", "ws")}/api/ws`);
  const got: any[] = [];
  ws.on("message", (d, binary) => {
    if (!binary) got.push(JSON.parse(String(d)));
  });
  await new Promise((r) => ws.once("open", r));
  ws.send(JSON.stringify({ type: "subscribe", all: true }));
  await eventually(() => got.some((m) => m.type === "subscribed"), 5000, "subscribed");
  return {
    until: (id) =>
      eventually(
        () =>
          got.some((m) => m.job_id === id && ["job.completed", "job.failed"].includes(m.type))
            ? got.filter((m) => m.job_id === id)
            : null,
        20_000,
        "the project's end",
      ) as Promise<any[]>,
    close: () => ws.close(),
  };
}

describe("a project on two hosts", () => {
  it("runs stage 2 on the other host, uploading stage 1's image there", async () => {
    const stream = await follow(orch.url);
    const id = await submit(orch.url, {
      project: {
        nodes: [
          {
            id: "shot",
            workflow_id: "gen_only",
            parameters: { prompt: "castle", steps: 2, width: 64, height: 64 },
          },
          {
            id: "big",
            workflow_id: "up_only",
            parameters: { image: { from: "shot" }, width: 80, height: 80 },
          },
        ],
      },
      webhook_url: receiver.url,
      metadata: { storyboard: "ep3" },
    });
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    expect(job.nodes.map((n: any) => n.backend_id)).toEqual(["gen", "up"]);

    // The image stage 2 loaded is stage 1's output, uploaded to the second host's input folder.
    const shotBytes = await download(job.nodes[0].outputs[0].url);
    const uploaded = readdirSync(path.join(up.dataDir, "input")).filter((f) => f.endsWith("_image.png"));
    expect(uploaded).toHaveLength(1);
    expect(readFileSync(path.join(up.dataDir, "input", uploaded[0]!)).equals(shotBytes)).toBe(true);
    expect(readdirSync(path.join(gen.dataDir, "input")).some((f) => f.endsWith("_image.png"))).toBe(false);

    const seen = await stream.until(id);
    stream.close();
    await new Promise((r) => setTimeout(r, 100));
    const types = seen.map((e) => e.type);
    expect(types[0]).toBe("job.queued");
    expect(types.at(-1)).toBe("job.completed");
    expect(types.filter((t) => t === "job.completed" || t === "job.failed")).toHaveLength(1);
    for (const t of ["job.node.dispatched", "job.node.running", "job.node.output", "job.node.completed"]) {
      expect(seen.filter((e) => e.type === t).map((e) => e.project_node)).toEqual(["shot", "big"]);
    }
    expect(seen.find((e) => e.type === "job.node.queued" && e.project_node === "big")).toBeTruthy();
    const output = seen.find((e) => e.type === "job.node.output" && e.project_node === "big");
    expect(output.url).toBe(job.nodes[1].outputs[0].url);
    const progress = seen.filter((e) => e.type === "job.progress").map((e) => e.percent);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));

    // One webhook, at the end, with the whole project.
    await eventually(() => receiver.received.length > 0, 10_000, "the webhook");
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.received).toHaveLength(1);
    const payload = JSON.parse(receiver.received[0]!.body);
    expect(payload).toMatchObject({ job_id: id, status: "completed", metadata: { storyboard: "ep3" } });
    expect(payload.nodes).toHaveLength(2);
    expect(payload.outputs).toHaveLength(2);
  });
});
