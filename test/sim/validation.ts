// execution.validate_prompt, rule for rule, so 400 bodies match a real host's: every class must exist, at
// least one output node, then each output's inputs are validated and failures gathered per node.
import type { Graph, NodeDef, NodeEnv } from "./node-types.js";
import { PyException, pyStr } from "./python-compat.js";
import {
  asPy,
  type ErrorItem,
  getItem,
  InputValidator,
  item,
  TRACEBACK,
  type Verdict,
} from "./validate-inputs.js";

export type { ErrorItem } from "./validate-inputs.js";

export interface NodeError {
  errors: ErrorItem[];
  dependent_outputs: string[];
  class_type: string;
}

export type ValidationResult =
  | { ok: true; outputs: string[]; nodeErrors: Record<string, NodeError> }
  | { ok: false; error: ErrorItem; nodeErrors: Record<string, NodeError> };

/** A Python `'key' in obj` on whatever JSON value a node entry is. */
function pyContains(container: unknown, key: string): boolean {
  if (typeof container === "string") return container.includes(key);
  if (Array.isArray(container)) return container.includes(key);
  if (typeof container === "object" && container !== null) return key in container;
  throw new PyException("TypeError", `argument of type '${typeof container}' is not iterable`);
}

export function validatePrompt(
  prompt: unknown,
  registry: Map<string, NodeDef>,
  env: NodeEnv,
  partialTargets?: unknown,
): ValidationResult {
  // `for x in prompt` over an empty list finds no output node; any other non-dict fails on prompt[x].
  if (Array.isArray(prompt) && prompt.length === 0) {
    return { ok: false, error: item("prompt_no_outputs", "Prompt has no outputs", "", {}), nodeErrors: {} };
  }
  if (typeof prompt !== "object" || prompt === null || Array.isArray(prompt)) {
    throw new PyException("TypeError", "list indices must be integers or slices, not str");
  }
  const graph = prompt as Record<string, unknown>;
  const outputs: string[] = [];
  for (const [id, node] of Object.entries(graph)) {
    if (!pyContains(node, "class_type")) {
      return invalidPrompt("Cannot execute because a node is missing the class_type property.", id);
    }
    const classType = getItem(node, "class_type");
    const def = typeof classType === "string" ? registry.get(classType) : undefined;
    if (!def) return invalidPrompt(`Cannot execute because node ${pyStr(classType)} does not exist.`, id);
    const wanted = !Array.isArray(partialTargets) || partialTargets.includes(id);
    if (def.outputNode && wanted) outputs.push(id);
  }
  if (outputs.length === 0) {
    return { ok: false, error: item("prompt_no_outputs", "Prompt has no outputs", "", {}), nodeErrors: {} };
  }

  const validated = new Map<string, Verdict>();
  const validator = new InputValidator(graph as Graph, registry, env, validated);
  const good: string[] = [];
  const failed: Array<[string, ErrorItem[]]> = [];
  const nodeErrors: Record<string, NodeError> = {};
  for (const o of outputs) {
    let verdict: Verdict;
    try {
      verdict = validator.validate(o);
    } catch (ex) {
      const e = asPy(ex);
      verdict = {
        ok: false,
        errors: [
          item("exception_during_validation", "Exception when validating node", e.message, {
            exception_type: e.pyType,
            traceback: TRACEBACK,
          }),
        ],
      };
      validated.set(o, verdict);
    }
    if (verdict.ok) {
      good.push(o);
      continue;
    }
    failed.push([o, verdict.errors]);
    // As in ComfyUI, every failing node validated so far gets this output appended, related or not.
    for (const [nodeId, v] of validated) {
      if (v.ok || v.errors.length === 0) continue;
      const classType = (graph as Graph)[nodeId]?.class_type ?? "";
      nodeErrors[nodeId] ??= { errors: v.errors, dependent_outputs: [], class_type: classType };
      nodeErrors[nodeId].dependent_outputs.push(o);
    }
  }
  if (good.length === 0) {
    const details = failed.flatMap(([, errs]) => errs.map((e) => `${e.message}: ${e.details}`)).join("\n");
    return {
      ok: false,
      error: item("prompt_outputs_failed_validation", "Prompt outputs failed validation", details, {}),
      nodeErrors,
    };
  }
  return { ok: true, outputs: good, nodeErrors };
}

function invalidPrompt(message: string, id: string): ValidationResult {
  return { ok: false, error: item("invalid_prompt", message, `Node ID '#${id}'`, {}), nodeErrors: {} };
}
