// What a host's /object_info and its refusals tell us: V3 `["COMBO", {"options"}]` model lists are read
// like the classic ones (a model no host has is refused at submit), and a job that every capable host
// refused for a reason of its own fails at once, listing each refusal, instead of waiting in the queue.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, untilHealthy } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

/** UpscaleModelLoader (a V3 node in v0.8.0) → ImageUpscaleWithModel → SaveImage. */
const upscaleWorkflow = {
  parameters: { model: { type: "string", targets: ["2.model_name"], default: "4x-UltraSharp.pth" } },
  graph: {
    "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    "2": { class_type: "UpscaleModelLoader", inputs: { model_name: "4x-UltraSharp.pth" } },
    "3": { class_type: "ImageUpscaleWithModel", inputs: { upscale_model: ["2", 0], image: ["1", 0] } },
    "4": { class_type: "SaveImage", inputs: { images: ["3", 0], filename_prefix: "up" } },
  },
};

let a: Simulator;
let b: Simulator;
let orch: RunningOrchestrator;
beforeAll(async () => {
  [a, b] = await Promise.all([startSimulator({ stepMs: 1 }), startSimulator({ stepMs: 1 })]);
  const dir = makeTestDir();
  writeWorkflow(dir, "upscale", upscaleWorkflow);
  writeWorkflow(dir, "slow", slowWorkflow);
  orch = await startOrchestrator({
    dir,
    backends: [
      { id: "a", url: a.url },
      { id: "b", url: b.url },
    ],
  });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await Promise.all([a?.close(), b?.close()]);
});

describe("V3 node schemas", () => {
  it("refuses at submit a model that no host lists in its COMBO options", async () => {
    const r = await api(orch.url, "POST", "/api/job", {
      workflow_id: "upscale",
      parameters: { model: "8x-NoSuchModel.pth" },
    });
    expectError(r, 422, "NO_CAPABLE_BACKEND");
    expect(r.body.error.details.backends).toEqual({
      a: "lacks models: model_name=8x-NoSuchModel.pth",
      b: "lacks models: model_name=8x-NoSuchModel.pth",
    });
    const ok = await api(orch.url, "POST", "/api/job?wait=20", { workflow_id: "upscale" });
    expect(ok.body.status).toBe("completed");
  });
});

describe("a job every capable host refused", () => {
  it("fails at once with each host's refusal, and a waiting caller hears it straight away", async () => {
    // The checkpoint disappears from both hosts after we read their model lists: each refuses the prompt.
    a.setCheckpoints(["other.safetensors"]);
    b.setCheckpoints(["other.safetensors"]);
    const r = await api(orch.url, "POST", "/api/job?wait=25", {
      workflow_id: "slow",
      parameters: { steps: 1 },
    });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe("failed");
    expect(r.body.error.code).toBe("REJECTED_BY_ALL_BACKENDS");
    const refusals = r.body.error.details.refusals as {
      backend_id: string;
      error: { code: string; message: string };
    }[];
    expect(refusals.map((x) => x.backend_id).sort()).toEqual(["a", "b"]);
    for (const x of refusals) {
      expect(x.error.code).toBe("WORKFLOW_REJECTED");
      expect(x.error.message).toMatch(/ckpt_name/);
    }
    expect(r.body.attempts).toHaveLength(2);
  });
});
