// Extra workflow files for tests, written into an Orchestrator's workflow folder.
import { writeFileSync } from "node:fs";
import path from "node:path";
import { txt2imgGraph } from "../sim/graphs.js";

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

type Node = { class_type: string; inputs: Record<string, unknown> };

/** A sampler graph (the simulator's standard txt2img one) whose run time is steps × the host's stepMs. */
export const slowWorkflow = {
  parameters: { steps: { type: "integer", targets: ["3.steps"], default: 10 } },
  graph: txt2imgGraph({ seed: 1, steps: 10, prefix: "slow" }) as { "3": Node } & Record<string, Node>,
};
