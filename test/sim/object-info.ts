// One node class as /object_info shows it, laid out as server.py's node_info() does for classic nodes and as
// a V3 schema's GET_NODE_INFO_V1() does: choice lists as `["COMBO", {"options": [...]}]`, type-only inputs as
// `["IMAGE", {}]`, and the V3 keys (output_tooltips, deprecated, experimental, api_node, ...).
import type { InputSpec, InputTypes, NodeDef, NodeEnv } from "./node-types.js";

/** "mixed" is v0.8.0: classic nodes in the old form, V3 ones in the new. */
export type ObjectInfoForm = "mixed" | "v1" | "v3";
export const OBJECT_INFO_FORMS: ObjectInfoForm[] = ["mixed", "v1", "v3"];

/** The choices of a combo input in either form, or undefined when it is not one. */
export function comboOptions(spec: readonly unknown[]): unknown[] | undefined {
  if (Array.isArray(spec[0])) return spec[0];
  const opts = spec[1] as { options?: unknown } | undefined;
  if (spec[0] === "COMBO" && Array.isArray(opts?.options)) return opts.options;
  return undefined;
}

function toV3(spec: InputSpec): unknown[] {
  const [type, opts = {}] = spec;
  if (Array.isArray(type)) return ["COMBO", { ...opts, multiselect: false, options: type }];
  return [type, opts];
}

function toV1(spec: InputSpec): unknown[] {
  const options = comboOptions(spec);
  if (options && !Array.isArray(spec[0])) {
    const { options: _o, multiselect: _m, ...rest } = (spec[1] ?? {}) as Record<string, unknown>;
    return [options, rest];
  }
  return [...spec];
}

function written(input: InputTypes, v3: boolean): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [group, specs] of Object.entries(input)) {
    if (group === "hidden") {
      out[group] = specs;
      continue;
    }
    const g: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries((specs ?? {}) as Record<string, InputSpec>))
      g[name] = v3 ? toV3(spec) : toV1(spec);
    out[group] = g;
  }
  return out;
}

export function nodeInfo(def: NodeDef, env: NodeEnv, form: ObjectInfoForm): Record<string, unknown> {
  const input = def.inputTypes(env);
  const v3 = form === "v3" || (form === "mixed" && def.v3 === true);
  const inputOrder: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(input)) inputOrder[k] = Object.keys(v ?? {});
  const info: Record<string, unknown> = {
    input: written(input, v3),
    input_order: inputOrder,
    output: def.returnTypes,
    output_is_list: def.returnTypes.map(() => false),
    output_name: def.returnNames ?? def.returnTypes,
    name: def.name,
    display_name: def.displayName,
    description: def.description,
    python_module:
      def.category === "custom" ? `custom_nodes.${def.name}` : def.v3 ? "comfy_extras.nodes_v3" : "nodes",
    category: def.category,
    output_node: def.outputNode,
  };
  if (v3) {
    Object.assign(info, {
      is_input_list: false,
      output_tooltips: def.outputTooltips ?? def.returnTypes.map(() => null),
      output_matchtypes: null,
      deprecated: def.deprecated ?? false,
      experimental: def.experimental ?? false,
      api_node: false,
    });
  } else {
    if (def.outputTooltips) info.output_tooltips = def.outputTooltips;
    if (def.deprecated) info.deprecated = true;
    if (def.experimental) info.experimental = true;
  }
  return info;
}
