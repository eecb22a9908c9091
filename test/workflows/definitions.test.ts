// Workflow definitions: typed parameters, multi-target patching, bare exports, UI-format files, broken files,
// discovery with a JSON Schema, and reproducible seeds.
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { api, eventually, expectError, submit, untilHealthy, waitForJob } from "../helpers/api.js";
import { makeTestDir, type RunningOrchestrator, startOrchestrator } from "../helpers/orchestrator.js";
import { invertGraph, slowWorkflow, writeWorkflow } from "../helpers/workflows.js";
import { type Simulator, startSimulator } from "../sim/simulator.js";

let sim: Simulator;
let orch: RunningOrchestrator;

const typed = {
  name: "Every type",
  parameters: {
    label: { type: "string", targets: ["9.filename_prefix"], default: "x" },
    steps: { type: "integer", targets: ["3.steps"], default: 4, min: 1, max: 50 },
    cfg: { type: "number", targets: ["3.cfg"], default: 7, min: 0, max: 30 },
    seed: { type: "seed", targets: ["3.seed", "13.seed"] },
    sampler: {
      type: "enum",
      targets: ["3.sampler_name", "13.sampler_name"],
      choices: ["euler", "dpmpp_2m"],
      default: "euler",
    },
    fast: { type: "boolean", targets: ["3.denoise_flag"], default: false },
    prompt: { type: "string", targets: ["6.text"], required: true },
  },
  graph: {
    ...slowWorkflow.graph,
    "3": { ...slowWorkflow.graph["3"], inputs: { ...slowWorkflow.graph["3"].inputs, denoise_flag: false } },
    "13": { class_type: "KSampler", inputs: { ...slowWorkflow.graph["3"].inputs } },
  },
};

const bareExport = {
  "1": {
    class_type: "EmptyImage",
    inputs: { width: 8, height: 8, batch_size: 1, color: 0 },
    _meta: { title: "Canvas Size" },
  },
  "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
  "3": { class_type: "SaveImage", inputs: { images: ["2", 0], filename_prefix: "bare" } },
};

beforeAll(async () => {
  sim = await startSimulator({ stepMs: 1 });
  const dir = makeTestDir();
  writeWorkflow(dir, "typed", typed);
  writeWorkflow(dir, "bare", bareExport);
  writeWorkflow(dir, "ui_format", {
    last_node_id: 3,
    nodes: [{ id: 1, type: "EmptyImage" }],
    links: [],
    version: 0.4,
  });
  writeWorkflow(dir, "broken_target", {
    parameters: { w: { type: "integer", targets: ["99.width"] } },
    graph: invertGraph(),
  });
  writeWorkflow(dir, "broken_default", {
    parameters: { w: { type: "integer", targets: ["1.width"], default: 5, min: 10 } },
    graph: invertGraph(),
  });
  writeWorkflow(dir, "broken_link", {
    graph: { ...invertGraph(), "2": { class_type: "ImageInvert", inputs: { image: ["42", 0] } } },
  });
  orch = await startOrchestrator({ dir, backends: [{ id: "s", url: sim.url }] });
  await untilHealthy(orch.url);
});
afterAll(async () => {
  await orch?.stop();
  await sim?.close();
});

const bad = async (parameters: Record<string, unknown>, field: string) => {
  const r = await api(orch.url, "POST", "/api/job", {
    workflow_id: "typed",
    parameters: { prompt: "p", ...parameters },
  });
  expectError(r, 400, "PARAMETER_INVALID");
  expect(r.body.error.details.fields.map((f: { field: string }) => f.field)).toContain(`parameters.${field}`);
  return r.body.error.details.fields as { field: string; message: string }[];
};

describe("parameter types", () => {
  it("rejects wrong values of every type, without coercion", async () => {
    await bad({ label: 5 }, "label");
    await bad({ steps: 2.5 }, "steps");
    await bad({ steps: "4" }, "steps");
    await bad({ steps: 51 }, "steps");
    await bad({ cfg: "abc" }, "cfg");
    await bad({ cfg: -1 }, "cfg");
    await bad({ seed: 1.5 }, "seed");
    await bad({ seed: -2 }, "seed");
    const choices = await bad({ sampler: "ddim" }, "sampler");
    expect(choices[0]!.message).toContain("dpmpp_2m");
    await bad({ fast: "true" }, "fast");
  });

  it("reports every problem at once, including a missing required one", async () => {
    const r = await api(orch.url, "POST", "/api/job", {
      workflow_id: "typed",
      parameters: { steps: 0, cfg: "x", nope: 1 },
    });
    const fields = r.body.error.details.fields.map((f: { field: string }) => f.field).sort();
    expect(fields).toEqual(["parameters.cfg", "parameters.nope", "parameters.prompt", "parameters.steps"]);
  });

  it("accepts good values of every type and patches every target of a parameter", async () => {
    const id = await submit(orch.url, {
      workflow_id: "typed",
      parameters: {
        prompt: "p",
        label: "lbl",
        steps: 3,
        cfg: 6.5,
        seed: 1234,
        sampler: "dpmpp_2m",
        fast: true,
      },
    });
    const job = await waitForJob(orch.url, id);
    expect(job.status).toBe("completed");
    const { graph } = (await api(orch.url, "GET", `/api/job/${id}?include=graph`)).body;
    expect(graph["3"].inputs).toMatchObject({
      steps: 3,
      cfg: 6.5,
      seed: 1234,
      sampler_name: "dpmpp_2m",
      denoise_flag: true,
    });
    expect(graph["13"].inputs).toMatchObject({ seed: 1234, sampler_name: "dpmpp_2m" });
    expect(graph["9"].inputs.filename_prefix).toBe(`lbl_${id}`);
  });

  it("records a random seed when it is omitted or -1, and reusing it reproduces the graph", async () => {
    const a = await submit(orch.url, { workflow_id: "typed", parameters: { prompt: "p", seed: -1 } });
    const jobA = (await api(orch.url, "GET", `/api/job/${a}?include=graph`)).body;
    const seed = jobA.parameters.seed;
    expect(Number.isInteger(seed) && seed >= 0).toBe(true);
    expect(jobA.graph["3"].inputs.seed).toBe(seed);
    expect(jobA.graph["13"].inputs.seed).toBe(seed);
    const b = await submit(orch.url, { workflow_id: "typed", parameters: { prompt: "p", seed } });
    const jobB = (await api(orch.url, "GET", `/api/job/${b}?include=graph`)).body;
    const strip = (g: Record<string, { inputs: Record<string, unknown> }>) =>
      JSON.stringify(g).replaceAll(a, "").replaceAll(b, "");
    expect(strip(jobB.graph)).toBe(strip(jobA.graph));
    const c = (
      await api(
        orch.url,
        "GET",
        `/api/job/${await submit(orch.url, { workflow_id: "typed", parameters: { prompt: "p" } })}`,
      )
    ).body;
    expect(c.parameters.seed).not.toBe(seed);
  });
});

describe("file formats", () => {
  it("a bare API export loads with NODE.INPUT, title and input-name parameters", async () => {
    const wf = (await api(orch.url, "GET", "/api/workflows/bare")).body;
    expect(wf.format).toBe("api_export");
    expect(Object.keys(wf.parameters)).toEqual(
      expect.arrayContaining(["1.width", "canvas_size.width", "width", "3.filename_prefix"]),
    );
    const id = await submit(orch.url, {
      workflow_id: "bare",
      parameters: { "canvas_size.width": 16, height: 12 },
    });
    expect((await waitForJob(orch.url, id)).status).toBe("completed");
    const { graph } = (await api(orch.url, "GET", `/api/job/${id}?include=graph`)).body;
    expect(graph["1"].inputs).toMatchObject({ width: 16, height: 12 });
  });

  it("a UI-format file is reported with how to export the API format", async () => {
    const list = (await api(orch.url, "GET", "/api/workflows")).body.workflows;
    const ui = list.find((w: { id: string }) => w.id === "ui_format");
    expect(ui.valid).toBe(false);
    expect(ui.errors[0]).toContain("Export (API)");
    expectError(
      await api(orch.url, "POST", "/api/job", { workflow_id: "ui_format" }),
      409,
      "WORKFLOW_INVALID",
    );
  });

  it("broken files are listed as invalid with reasons while the others work", async () => {
    const list = (await api(orch.url, "GET", "/api/workflows")).body.workflows;
    const byId = Object.fromEntries(list.map((w: { id: string }) => [w.id, w]));
    expect(byId.broken_target.errors.join()).toContain('"99"');
    expect(byId.broken_default.errors.join()).toContain("default");
    expect(byId.broken_link.errors.join()).toContain('"42"');
    for (const ok of ["typed", "bare", "invert_image", "txt2img_basic", "scale_image"])
      expect(byId[ok].valid).toBe(true);
    expectError(await api(orch.url, "GET", "/api/workflows/broken_link"), 409, "WORKFLOW_INVALID");
    expectError(await api(orch.url, "GET", "/api/workflows/none"), 404, "WORKFLOW_NOT_FOUND");
  });
});

describe("discovery", () => {
  it("publishes a JSON Schema that accepts the shipped examples' defaults and rejects bad values", async () => {
    const ajv = new Ajv2020({ strict: false });
    for (const id of ["txt2img_basic", "invert_image", "scale_image"]) {
      const wf = (await api(orch.url, "GET", `/api/workflows/${id}`)).body;
      const validate = ajv.compile(wf.parameters_schema);
      const defaults: Record<string, unknown> = {};
      for (const [name, p] of Object.entries(
        wf.parameters as Record<string, { default?: unknown; required: boolean; type: string }>,
      )) {
        if (p.default !== undefined) defaults[name] = p.default;
        else if (p.required) defaults[name] = p.type === "image" ? "aGVsbG8=" : "a prompt";
      }
      expect(validate(defaults), `${id}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(validate({ ...defaults, not_a_parameter: 1 })).toBe(false);
    }
    const txt = (await api(orch.url, "GET", "/api/workflows/txt2img_basic")).body;
    expect(ajv.compile(txt.parameters_schema)({ prompt: "x", steps: "many" })).toBe(false);
  });
});

describe("hot reload", () => {
  it("adds, changes and deletes workflows without a restart; accepted jobs keep their version", async () => {
    writeWorkflow(orch.dir, "hot", {
      parameters: { w: { type: "integer", targets: ["1.width"], default: 8 } },
      graph: invertGraph(),
    });
    await eventually(
      async () => (await api(orch.url, "GET", "/api/workflows/hot")).status === 200,
      3000,
      "added",
    );
    const v1 = (await api(orch.url, "GET", "/api/workflows/hot")).body.version;

    await api(orch.url, "POST", "/api/backends/s/disable");
    const accepted = await submit(orch.url, { workflow_id: "hot", parameters: { w: 9 } });
    writeWorkflow(orch.dir, "hot", {
      parameters: { width: { type: "integer", targets: ["1.width"], default: 8 } },
      graph: invertGraph(),
    });
    await eventually(
      async () => (await api(orch.url, "GET", "/api/workflows/hot")).body.version !== v1,
      3000,
      "changed",
    );
    expectError(
      await api(orch.url, "POST", "/api/job", { workflow_id: "hot", parameters: { w: 9 } }),
      400,
      "PARAMETER_INVALID",
    );
    await api(orch.url, "POST", "/api/backends/s/enable");
    const old = await waitForJob(orch.url, accepted);
    expect(old).toMatchObject({ status: "completed", workflow_version: v1 });

    const { rmSync } = await import("node:fs");
    rmSync(`${orch.dir}/data/workflows/hot.json`);
    await eventually(
      async () => (await api(orch.url, "GET", "/api/workflows/hot")).status === 404,
      3000,
      "deleted",
    );
  });
});
