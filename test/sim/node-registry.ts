// The set of node classes a simulated host has (built-ins, minus disabled, plus pass-through custom nodes) and
// their /object_info entries, laid out as server.py's node_info() does.
import { ImageBatch, solidFrame } from "./image.js";
import type { NodeDef, NodeEnv } from "./node-types.js";
import { IMAGE_NODES } from "./nodes-image.js";
import { MODEL_NODES } from "./nodes-model.js";
import { OUTPUT_NODES } from "./nodes-output.js";
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
  for (const def of [...MODEL_NODES, ...IMAGE_NODES, ...OUTPUT_NODES, ...MEDIA_NODES])
    registry.set(def.name, def);
  for (const name of extra) if (!registry.has(name)) registry.set(name, passThroughNode(name));
  for (const name of disabled) registry.delete(name);
  return registry;
}

export function nodeInfo(def: NodeDef, env: NodeEnv): Record<string, unknown> {
  const input = def.inputTypes(env);
  const inputOrder: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(input)) inputOrder[k] = Object.keys(v ?? {});
  return {
    input,
    input_order: inputOrder,
    output: def.returnTypes,
    output_is_list: def.returnTypes.map(() => false),
    output_name: def.returnNames ?? def.returnTypes,
    name: def.name,
    display_name: def.displayName,
    description: def.description,
    python_module: def.category === "custom" ? `custom_nodes.${def.name}` : "nodes",
    category: def.category,
    output_node: def.outputNode,
  };
}
