// Extra workflow files for tests, written into an Orchestrator's workflow folder.
import { writeFileSync } from "node:fs";
import path from "node:path";

export function writeWorkflow(dir: string, id: string, def: unknown): void {
  writeFileSync(path.join(dir, "data", "workflows", `${id}.json`), JSON.stringify(def, null, 2));
}

/** EmptyImage → (optional custom node) → SaveImage: fast, model-free. */
export function invertGraph(custom?: string) {
  const graph: Record<string, unknown> = {
    "1": { class_type: "EmptyImage", inputs: { width: 8, height: 8, batch_size: 1, color: 0 } },
    "2": { class_type: "ImageInvert", inputs: { image: ["1", 0] } },
    "3": { class_type: "SaveImage", inputs: { images: [custom ? "4" : "2", 0], filename_prefix: "t" } },
  };
  if (custom) graph["4"] = { class_type: custom, inputs: { image: ["2", 0] } };
  return graph;
}

/** A sampler graph whose run time is steps × the host's stepMs. */
export const slowWorkflow = {
  parameters: { steps: { type: "integer", targets: ["3.steps"], default: 10 } },
  graph: {
    "3": {
      class_type: "KSampler",
      inputs: {
        seed: 1,
        steps: 10,
        cfg: 7,
        sampler_name: "euler",
        scheduler: "normal",
        denoise: 1,
        model: ["4", 0],
        positive: ["6", 0],
        negative: ["6", 0],
        latent_image: ["5", 0],
      },
    },
    "4": { class_type: "CheckpointLoaderSimple", inputs: { ckpt_name: "sd_xl_base_1.0.safetensors" } },
    "5": { class_type: "EmptyLatentImage", inputs: { width: 64, height: 64, batch_size: 1 } },
    "6": { class_type: "CLIPTextEncode", inputs: { text: "x", clip: ["4", 1] } },
    "8": { class_type: "VAEDecode", inputs: { samples: ["3", 0], vae: ["4", 2] } },
    "9": { class_type: "SaveImage", inputs: { filename_prefix: "slow", images: ["8", 0] } },
  },
};
