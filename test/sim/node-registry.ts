// The set of node classes a simulated host has: built-ins, minus disabled ones, plus pass-through custom
// nodes for classes a test says the host has.
import { ImageBatch, solidFrame } from "./image.js";
import type { NodeDef } from "./node-types.js";
import { IMAGE_NODES } from "./nodes-image.js";
import { MODEL_NODES } from "./nodes-model.js";
import { OUTPUT_NODES } from "./nodes-output.js";
import { V3_NODES } from "./nodes-v3.js";
import { MEDIA_NODES } from "./nodes-video.js";

/**
 * A custom node class the host "has": no declared inputs, one output of type "*" (links to anything). It passes
 * its first linked input through, or yields a 64x64 black IMAGE when it has none.
 */
function passThroughNode(name: string): NodeDef {
  return {
    name,
    displayName: name,
    category: "custom",
    description: "",
    outputNode: false,
    returnTypes: ["*"],
    inputTypes: () => ({ required: {}, optional: {} }),
    run: async (inputs) => {
      const linked = Object.values(inputs).find((v) => typeof v === "object" && v !== null);
      return { outputs: [linked ?? new ImageBatch([solidFrame(64, 64, 0)])] };
    },
  };
}

export function buildRegistry(extra: string[] = [], disabled: string[] = []): Map<string, NodeDef> {
  const registry = new Map<string, NodeDef>();
  for (const def of [...MODEL_NODES, ...IMAGE_NODES, ...OUTPUT_NODES, ...MEDIA_NODES, ...V3_NODES])
    registry.set(def.name, def);
  for (const name of extra) if (!registry.has(name)) registry.set(name, passThroughNode(name));
  for (const name of disabled) registry.delete(name);
  return registry;
}
