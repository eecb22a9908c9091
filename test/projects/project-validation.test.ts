// Every problem of a project in one 400, named by its path in the request; 422 when no host could run a node.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, expectError, untilHealthy } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";
import { scale, txt2img, writeAudioWorkflow } from "./project-helpers.js";

let sim: Simulator;
let orch: RunningOrchestrator;

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 2 });
  const dir = makeTestDir();
  writeAudioWorkflow(dir);
  writeWorkflow(dir, "needs_flux", {
    requires: ["flux"],
    graph: {
      "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
      "2": { class_type: "SaveImage", inputs: { images: ["1", 0], filename_prefix: "f" } },
    },
  });
  orch = await startOrchestrator({ dir, backends: [{ id: "sim-1", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

const post = (nodes: unknown[]) => api(orch.url, "POST", "/api/job", { project: { nodes } });
const fields = (r: { body: any }) =>
  Object.fromEntries(r.body.error.details.fields.map((f: any) => [f.field, f.message]));

describe("submitting a project", () => {
  it("reports every problem at once: duplicate ids, unknown link targets, wrong parameters", async () => {
    const r = await post([
      txt2img("a"),
      txt2img("a"),
      scale("b", "nowhere", 8, 8),
      { id: "c", workflow_id: "scale_image", parameters: { image: { from: "a" }, width: "wide" } },
    ]);
    expectError(r, 400, "VALIDATION_FAILED");
    const f = fields(r);
    expect(f["project.nodes[1].id"]).toMatch(/duplicate node id "a"/);
    expect(f["project.nodes[2].parameters.image"]).toMatch(/unknown node "nowhere"/);
    expect(f["project.nodes[3].parameters.width"]).toMatch(/integer/);
  });

  it("names the nodes of a cycle", async () => {
    const r = await post([scale("x", "y", 8, 8), scale("y", "z", 8, 8), scale("z", "x", 8, 8)]);
    expectError(r, 400, "VALIDATION_FAILED");
    const [problem] = r.body.error.details.fields;
    expect(problem.field).toBe("project.nodes[0]");
    expect(problem.message).toContain("x → y → z → x");
  });

  it("refuses a link into a parameter that is not an image", async () => {
    const r = await post([
      txt2img("a"),
      { id: "b", workflow_id: "txt2img_basic", parameters: { prompt: { from: "a" } } },
    ]);
    expectError(r, 400, "VALIDATION_FAILED");
    expect(fields(r)["project.nodes[1].parameters.prompt"]).toMatch(/only image parameters take a link/);
  });

  it("refuses a link from a node whose workflow has no image output", async () => {
    const r = await post([{ id: "a", workflow_id: "audio_only", parameters: {} }, scale("b", "a", 8, 8)]);
    expectError(r, 400, "VALIDATION_FAILED");
    expect(fields(r)["project.nodes[1].parameters.image"]).toMatch(/has no image output/);
  });

  it("refuses count on a workflow without a seed, and a count out of range", async () => {
    const r = await post([
      { id: "a", workflow_id: "invert_image", parameters: {}, count: 2 },
      txt2img("b", { count: 65 }),
    ]);
    expectError(r, 400, "VALIDATION_FAILED");
    expect(Object.keys(fields(r))).toContain("project.nodes[1].count");
    const again = await post([{ id: "a", workflow_id: "invert_image", parameters: {}, count: 2 }]);
    expectError(again, 400, "VALIDATION_FAILED");
    expect(fields(again)["project.nodes[0].count"]).toMatch(/no seed parameter/);
  });

  it("refuses more than 500 nodes", async () => {
    const nodes = Array.from({ length: 501 }, (_, i) => ({ id: `n${i}`, workflow_id: "invert_image" }));
    const r = await post(nodes);
    expectError(r, 400, "VALIDATION_FAILED");
    expect(r.body.error.details.fields[0].field).toBe("project.nodes");
  });

  it("reports an unknown workflow and a bad image as fields of the one 400", async () => {
    const r = await post([
      { id: "a", workflow_id: "no_such_workflow" },
      { id: "b", workflow_id: "scale_image", parameters: { image: "not-base64!" } },
    ]);
    expectError(r, 400, "VALIDATION_FAILED");
    expect(fields(r)["project.nodes[0].workflow_id"]).toMatch(/no_such_workflow/);
    const media = await post([{ id: "b", workflow_id: "scale_image", parameters: { image: "aGVsbG8=" } }]);
    expectError(media, 400, "MEDIA_INVALID");
    expect(fields(media)["project.nodes[0].parameters.image"]).toMatch(/not a PNG/);
  });

  it("answers 422 naming the node when no host could ever run its workflow", async () => {
    const r = await post([txt2img("a"), { id: "b", workflow_id: "needs_flux", parameters: {} }]);
    expectError(r, 422, "NO_CAPABLE_BACKEND");
    expect(r.body.error.details).toMatchObject({ node: "b", field: "project.nodes[1].workflow_id" });
    expect(r.body.error.details.backends["sim-1"]).toMatch(/flux/);
  });

  it("leaves the single-workflow manifest's errors as they were", async () => {
    const r = await api(orch.url, "POST", "/api/job", { workflow_id: "txt2img_basic", parameters: {} });
    expectError(r, 400, "PARAMETER_INVALID");
    expect(r.body.error.details.fields[0].field).toBe("parameters.prompt");
    expectError(await api(orch.url, "POST", "/api/job", { workflow_id: "nope" }), 404, "WORKFLOW_NOT_FOUND");
  });
});
