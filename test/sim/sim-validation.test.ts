// POST /prompt rejections, pinned to the bodies ComfyUI's validate_prompt produces.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emptyImageGraph, txt2imgGraph } from "./graphs.js";
import type { Graph } from "./node-types.js";
import { getJson, postJson } from "./sim-client.js";
import { type Simulator, startSimulator } from "./simulator.js";

describe("simulator: prompt validation", () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ stepMs: 0, nodeMs: 0, extraNodeClasses: ["MyCustomUpscaler"] });
  });
  afterAll(() => sim.close());

  const post = (body: unknown) => postJson(sim.url, "/prompt", body);

  it("rejects a body without a prompt", async () => {
    const r = await post({ client_id: "x" });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: {
        type: "no_prompt",
        message: "No prompt provided",
        details: "No prompt provided",
        extra_info: {},
      },
      node_errors: {},
    });
  });

  it("names an unknown node class", async () => {
    const graph = { ...emptyImageGraph(), "7": { class_type: "NotANode", inputs: {} } };
    const r = await post({ prompt: graph });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: {
        type: "invalid_prompt",
        message: "Cannot execute because node NotANode does not exist.",
        details: "Node ID '#7'",
        extra_info: {},
      },
      node_errors: {},
    });
  });

  it("rejects a graph without output nodes", async () => {
    const graph = {
      "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    };
    const r = await post({ prompt: graph });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: { type: "prompt_no_outputs", message: "Prompt has no outputs", details: "", extra_info: {} },
      node_errors: {},
    });
  });

  it("reports a missing required input on its node", async () => {
    const graph = txt2imgGraph();
    delete graph["3"]!.inputs.steps;
    const r = await post({ prompt: graph });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({
      error: {
        type: "prompt_outputs_failed_validation",
        message: "Prompt outputs failed validation",
        details: "",
        extra_info: {},
      },
      node_errors: {
        "3": {
          errors: [
            {
              type: "required_input_missing",
              message: "Required input is missing",
              details: "steps",
              extra_info: { input_name: "steps" },
            },
          ],
          dependent_outputs: ["9"],
          class_type: "KSampler",
        },
      },
    });
  });

  it("reports a link to a missing node as ComfyUI's KeyError", async () => {
    const graph = txt2imgGraph();
    graph["8"]!.inputs.samples = ["99", 0];
    const r = await post({ prompt: graph });
    expect(r.status).toBe(400);
    expect(r.body.error.type).toBe("prompt_outputs_failed_validation");
    const err = r.body.node_errors["8"];
    expect(err.class_type).toBe("VAEDecode");
    expect(err.dependent_outputs).toEqual(["9"]);
    expect(err.errors).toEqual([
      {
        type: "exception_during_inner_validation",
        message: "Exception when validating inner node",
        details: "'99'",
        extra_info: {
          input_name: "images",
          input_config: ["IMAGE", { tooltip: "The images to save." }],
          exception_message: "'99'",
          exception_type: "KeyError",
          traceback: expect.any(Array),
          linked_node: ["8", 0],
        },
      },
    ]);

    // On the output node itself the same fault is an exception_during_validation.
    const direct = emptyImageGraph();
    direct["2"]!.inputs.images = ["42", 0];
    const d = await post({ prompt: direct });
    expect(d.body.error.details).toBe("Exception when validating node: '42'");
    expect(d.body.node_errors["2"].errors[0]).toMatchObject({
      type: "exception_during_validation",
      details: "'42'",
      extra_info: { exception_type: "KeyError" },
    });
  });

  it("reports a checkpoint the host does not have as value_not_in_list", async () => {
    const r = await post({ prompt: txt2imgGraph({ ckpt: "missing.safetensors" }) });
    expect(r.status).toBe(400);
    expect(r.body.node_errors["4"]).toEqual({
      errors: [
        {
          type: "value_not_in_list",
          message: "Value not in list",
          details:
            "ckpt_name: 'missing.safetensors' not in ['sd_xl_base_1.0.safetensors', 'v1-5-pruned-emaonly.safetensors']",
          extra_info: {
            input_name: "ckpt_name",
            input_config: [
              ["sd_xl_base_1.0.safetensors", "v1-5-pruned-emaonly.safetensors"],
              { tooltip: "The name of the checkpoint (model) to load." },
            ],
            received_value: "missing.safetensors",
          },
        },
      ],
      dependent_outputs: ["9"],
      class_type: "CheckpointLoaderSimple",
    });
    // A long choice list (the samplers) is not echoed back.
    const s = await post({ prompt: txt2imgGraph({ sampler: "warp_drive" }) });
    expect(s.body.node_errors["3"].errors[0]).toMatchObject({
      type: "value_not_in_list",
      details: expect.stringMatching(/^sampler_name: 'warp_drive' not in \(list of length \d+\)$/),
      extra_info: { input_name: "sampler_name", input_config: null, received_value: "warp_drive" },
    });
  });

  it("enforces min/max and INT conversion like Python's int()", async () => {
    const tooMany = txt2imgGraph();
    tooMany["3"]!.inputs.steps = 0;
    tooMany["5"]!.inputs.width = 99999;
    const r = await post({ prompt: tooMany });
    expect(r.body.node_errors["3"].errors[0]).toMatchObject({
      type: "value_smaller_than_min",
      message: "Value 0 smaller than min of 1",
      details: "steps",
      extra_info: { input_name: "steps", received_value: 0 },
    });
    expect(r.body.node_errors["5"].errors[0]).toMatchObject({
      type: "value_bigger_than_max",
      message: "Value 99999 bigger than max of 16384",
    });

    const wrongType = txt2imgGraph();
    wrongType["3"]!.inputs.steps = "many";
    const w = await post({ prompt: wrongType });
    expect(w.body.node_errors["3"].errors[0]).toMatchObject({
      type: "invalid_input_type",
      message: "Failed to convert an input value to a INT value",
      details: "steps, many, invalid literal for int() with base 10: 'many'",
      extra_info: { input_name: "steps", received_value: "many" },
    });

    // Numeric strings convert, as int("3") does in ComfyUI; the queued prompt holds the converted value.
    const lenient = txt2imgGraph();
    lenient["3"]!.inputs.steps = "3";
    const ok = await post({ prompt: lenient });
    expect(ok.status).toBe(200);
    const queue = sim.getQueue();
    const queued = [...queue.running, ...queue.pending].find((i) => i[1] === ok.body.prompt_id);
    expect(queued?.[2]["3"]?.inputs.steps).toBe(3);
  });

  it("reports a LoadImage of a file that is not there as custom_validation_failed", async () => {
    const graph = {
      "1": { class_type: "LoadImage", inputs: { image: "nope.png" } },
      "2": { class_type: "PreviewImage", inputs: { images: ["1", 0] } },
    };
    const r = await post({ prompt: graph });
    expect(r.body.node_errors["1"].errors).toEqual([
      {
        type: "custom_validation_failed",
        message: "Custom validation failed for node",
        details: "image - Invalid image file: nope.png",
        extra_info: { input_name: "image" },
      },
    ]);
  });

  it("reports a type mismatch between linked nodes", async () => {
    const graph = txt2imgGraph();
    graph["9"]!.inputs.images = ["5", 0];
    const r = await post({ prompt: graph });
    expect(r.body.node_errors["9"].errors[0]).toMatchObject({
      type: "return_type_mismatch",
      details: "images, received_type(LATENT) mismatch input_type(IMAGE)",
    });
  });

  it("accepts custom node classes configured on the host and lists them in object_info", async () => {
    const graph: Graph = {
      ...emptyImageGraph(),
      "3": { class_type: "MyCustomUpscaler", inputs: { image: ["1", 0], scale: 2 } },
    };
    graph["2"]!.inputs.images = ["3", 0];
    const r = await post({ prompt: graph });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ prompt_id: expect.any(String), number: expect.any(Number), node_errors: {} });

    const info = (await getJson(sim.url, "/object_info/MyCustomUpscaler")).body;
    expect(info.MyCustomUpscaler).toMatchObject({ name: "MyCustomUpscaler", output_node: false });
    expect((await getJson(sim.url, "/object_info/Nope")).body).toEqual({});
    const raw = await fetch(`${sim.url}/object_info`).then((x) => x.text());
    // Python prints the 64-bit seed maximum exactly; JSON.parse in JS rounds it.
    expect(raw).toContain('"max": 18446744073709551615');
    const all = JSON.parse(raw);
    expect(all.CheckpointLoaderSimple.input.required.ckpt_name[0]).toEqual([
      "sd_xl_base_1.0.safetensors",
      "v1-5-pruned-emaonly.safetensors",
    ]);
    expect(all.SaveImage).toMatchObject({ output_node: true, output: [], category: "image" });
    expect(all.KSampler.input_order.required).toEqual([
      "model",
      "seed",
      "steps",
      "cfg",
      "sampler_name",
      "scheduler",
      "positive",
      "negative",
      "latent_image",
      "denoise",
    ]);
  });
});
