// How much work a job is, read from its graph, so one learned speed fits jobs of different sizes: sampler
// steps × megapixels (× batch) where the graph has them, else 1 per job.
import type { ApiGraph } from "../models.js";

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null);

/** What a unit of work is: a sampler step over a megapixel, or a whole job (graphs without steps). */
export type WorkUnit = "step_mp" | "job";

export function workOf(graph: ApiGraph): { units: number; unit: WorkUnit } {
  let steps = 0;
  let pixels = 0;
  for (const node of Object.values(graph)) {
    const i = node.inputs;
    const s = num(i.steps);
    // Literal steps only: a linked value is another node's output we cannot read here.
    if (s !== null && ("sampler_name" in i || "sigmas" in i || node.class_type.includes("Sampler")))
      steps += s;
    const w = num(i.width);
    const h = num(i.height);
    if (w !== null && h !== null && node.class_type.includes("Latent")) {
      pixels = Math.max(pixels, w * h * (num(i.batch_size) ?? 1));
    }
  }
  if (steps === 0) return { units: 1, unit: "job" };
  return { units: pixels > 0 ? (steps * pixels) / 1e6 : steps, unit: "step_mp" };
}
