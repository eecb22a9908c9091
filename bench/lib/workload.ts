// The jobs every scenario runs, built once and handed to Orchestrator (as a manifest) and to the baselines
// (as the same ComfyUI graph Orchestrator would send), so both sides do identical work on the hosts.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { REPO } from "./children.js";
import { seededRandom } from "./stats.js";

type Graph = Record<string, { class_type: string; inputs: Record<string, unknown>; _meta?: unknown }>;

const TXT2IMG: Graph = JSON.parse(
  readFileSync(path.join(REPO, "data", "workflows", "txt2img_basic.json"), "utf8"),
).graph;
const INVERT: Graph = JSON.parse(
  readFileSync(path.join(REPO, "data", "workflows", "invert_image.json"), "utf8"),
).graph;

/** One txt2img job; the simulator's sampler spends `steps × stepMs`, and a 64×64 image keeps encoding cheap. */
export interface Txt2ImgJob {
  prompt: string;
  steps: number;
  seed: number;
  width: number;
  height: number;
  /** Checkpoint file (default: the workflow's own). */
  ckpt?: string;
}

export function txt2imgManifest(j: Txt2ImgJob) {
  return {
    workflow_id: "txt2img_basic",
    parameters: {
      prompt: j.prompt,
      steps: j.steps,
      seed: j.seed,
      width: j.width,
      height: j.height,
      ...(j.ckpt ? { checkpoint: j.ckpt } : {}),
    },
  };
}

/** The graph Orchestrator would build for the same job (defaults included, job-specific file prefix). */
export function txt2imgGraph(j: Txt2ImgJob): Graph {
  const g = structuredClone(TXT2IMG);
  g["3"]!.inputs.steps = j.steps;
  g["3"]!.inputs.seed = j.seed;
  g["5"]!.inputs.width = j.width;
  g["5"]!.inputs.height = j.height;
  g["6"]!.inputs.text = j.prompt;
  g["7"]!.inputs.text = "blurry, low quality";
  g["9"]!.inputs.filename_prefix = `txt2img_${randomUUID()}`;
  if (j.ckpt) g["4"]!.inputs.ckpt_name = j.ckpt;
  return g;
}

export function invertManifest(size = 64) {
  return { workflow_id: "invert_image", parameters: { width: size, height: size } };
}

export function invertGraph(size = 64): Graph {
  const g = structuredClone(INVERT);
  g["1"]!.inputs.width = size;
  g["1"]!.inputs.height = size;
  g["3"]!.inputs.filename_prefix = `invert_${randomUUID()}`;
  return g;
}

/** `n` jobs of a fixed length. */
export function fixedJobs(n: number, steps: number, tag: string): Txt2ImgJob[] {
  return Array.from({ length: n }, (_, i) => ({
    prompt: `${tag} ${i}`,
    steps,
    seed: i + 1,
    width: 64,
    height: 64,
  }));
}

/** `n` jobs whose step counts are drawn (reproducibly) from `choices`. */
export function mixedJobs(n: number, choices: readonly number[], seed: number): Txt2ImgJob[] {
  const rnd = seededRandom(seed);
  return Array.from({ length: n }, (_, i) => ({
    prompt: `mixed ${i}`,
    steps: choices[Math.floor(rnd() * choices.length)]!,
    seed: i + 1,
    width: 64,
    height: 64,
  }));
}
