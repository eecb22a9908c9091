// Which nodes a prompt runs and in what order, and what each one receives: ComfyUI runs only the nodes the
// chosen outputs depend on, each after its inputs, and passes linked values plus declared literals and hidden inputs.
import type { Graph } from "./node-types.js";
import { pyRepr } from "./python-compat.js";

/** Nodes needed by `outputs`, dependencies first; outputs needing fewer new nodes run first, as in ComfyUI. */
export function executionOrder(prompt: Graph, outputs: string[]): string[] {
  const done = new Set<string>();
  const order: string[] = [];
  const pending = [...outputs];
  while (pending.length > 0) {
    pending.sort(
      (a, b) => needed(prompt, a, done).length - needed(prompt, b, done).length || (a < b ? -1 : 1),
    );
    const next = pending.shift()!;
    for (const id of needed(prompt, next, done)) {
      done.add(id);
      order.push(id);
    }
  }
  return order;
}

/** recursive_will_execute: the not-yet-run nodes `id` needs, dependencies first (cycles are cut). */
function needed(prompt: Graph, id: string, done: Set<string>, seen = new Set<string>()): string[] {
  if (done.has(id) || seen.has(id) || !prompt[id]) return [];
  seen.add(id);
  const out: string[] = [];
  for (const v of Object.values(prompt[id].inputs ?? {})) {
    if (Array.isArray(v) && typeof v[0] === "string") {
      for (const dep of needed(prompt, v[0], done, seen)) if (!out.includes(dep)) out.push(dep);
    }
  }
  out.push(id);
  return out;
}

/** get_input_data: linked values (None when the source did not run), declared literals, hidden inputs. */
export function gatherInputs(
  nodeId: string,
  prompt: Graph,
  declared: {
    required: Record<string, unknown>;
    optional?: Record<string, unknown>;
    hidden?: Record<string, string>;
  },
  values: Map<string, unknown[]>,
  extraData: Record<string, unknown>,
): Record<string, unknown> {
  const node = prompt[nodeId]!;
  const inputs: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(node.inputs ?? {})) {
    if (Array.isArray(v)) {
      const source = typeof v[0] === "string" ? values.get(v[0]) : undefined;
      inputs[name] = source && typeof v[1] === "number" ? (source[v[1]] ?? null) : null;
    } else if (name in declared.required || name in (declared.optional ?? {})) {
      inputs[name] = v;
    }
  }
  for (const [name, kind] of Object.entries(declared.hidden ?? {})) {
    if (kind === "PROMPT") inputs[name] = prompt;
    if (kind === "EXTRA_PNGINFO") inputs[name] = extraData.extra_pnginfo ?? null;
    if (kind === "UNIQUE_ID") inputs[name] = nodeId;
  }
  return inputs;
}

/** execution.format_value over every input, for execution_error's current_inputs. */
export function formatInputs(inputs: Record<string, unknown>): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const [k, v] of Object.entries(inputs)) {
    const primitive = v === null || ["number", "string", "boolean"].includes(typeof v);
    out[k] = [primitive ? v : pyRepr(v)];
  }
  return out;
}
