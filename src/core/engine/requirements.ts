// What a job needs from a host, read from its patched graph: node classes, model files, capabilities, VRAM.
import type { ApiGraph } from "../models.js";

export interface Requirements {
  capabilities: string[];
  classTypes: string[];
  /** Model files named by loader inputs (ckpt_name, lora_name, ...): the host must list them. */
  models: { input: string; value: string }[];
  minVramBytes: number | null;
}

const MODEL_FILE = /\.(safetensors|ckpt|pt|pth|bin|gguf|sft|onnx)$/i;

export function requirementsOf(job: {
  graph: ApiGraph;
  requires: string[];
  min_vram_gb: number | null;
}): Requirements {
  const classTypes = new Set<string>();
  const models: { input: string; value: string }[] = [];
  for (const node of Object.values(job.graph)) {
    classTypes.add(node.class_type);
    for (const [input, value] of Object.entries(node.inputs)) {
      if (input.endsWith("_name") && typeof value === "string" && MODEL_FILE.test(value)) {
        models.push({ input, value });
      }
    }
  }
  return {
    capabilities: job.requires,
    classTypes: [...classTypes],
    models,
    minVramBytes: job.min_vram_gb === null ? null : job.min_vram_gb * 1024 ** 3,
  };
}
