// Parameter values checked against a workflow definition. The zod schema built here is used both to
// validate a submit (every problem reported at once, no silent coercion) and to publish a JSON Schema.
import { randomInt } from "node:crypto";
import { z } from "zod";
import { AppError, type FieldProblem } from "../../errors.js";
import type { ParameterDefinition, WorkflowDefinition } from "../storage/workflow-definition.js";

/** ComfyUI seeds are 64-bit, but JSON numbers are exact only to 2^53. */
const MAX_SEED = Number.MAX_SAFE_INTEGER;

export function valueSchema(p: ParameterDefinition): z.ZodType {
  let s: z.ZodType;
  switch (p.type) {
    case "string": {
      let str = z.string();
      if (p.min !== undefined) str = str.min(p.min);
      if (p.max !== undefined) str = str.max(p.max);
      s = p.choices ? z.enum(p.choices.map(String) as [string, ...string[]]) : str;
      break;
    }
    case "integer":
    case "number": {
      let n = p.type === "integer" ? z.number().int() : z.number();
      if (p.min !== undefined) n = n.min(p.min);
      if (p.max !== undefined) n = n.max(p.max);
      s = n;
      break;
    }
    case "seed":
      s = z
        .number()
        .int()
        .min(p.min ?? -1)
        .max(p.max ?? MAX_SEED)
        .describe("-1 or omitted picks a random seed, which is recorded on the job");
      break;
    case "boolean":
      s = z.boolean();
      break;
    case "enum": {
      const choices = (p.choices ?? []).map((c) => z.literal(c));
      s = choices.length === 1 ? choices[0]! : z.union(choices as [z.ZodLiteral, z.ZodLiteral]);
      break;
    }
    case "image":
      s = z
        .string()
        .min(1)
        .describe("base64 or data: URL, an http(s) URL, or job:<job_id>/<filename> (an earlier output)");
      break;
  }
  return p.description ? s.describe(p.description) : s;
}

/** Built once per loaded definition (a reload makes a new object): building a zod schema costs far more than using it. */
const schemas = new WeakMap<WorkflowDefinition, z.ZodObject>();

export function parametersSchema(def: WorkflowDefinition): z.ZodObject {
  let schema = schemas.get(def);
  if (!schema) {
    schema = buildParametersSchema(def);
    schemas.set(def, schema);
  }
  return schema;
}

function buildParametersSchema(def: WorkflowDefinition): z.ZodObject {
  const shape: Record<string, z.ZodType> = {};
  for (const [name, p] of Object.entries(def.parameters)) {
    let s = valueSchema(p);
    if (p.default !== undefined) s = s.meta({ default: p.default });
    shape[name] = p.required ? s : s.optional();
  }
  return z.strictObject(shape);
}

/** A JSON Schema (draft 2020-12) a client UI can render a form from. */
export function parametersJsonSchema(def: WorkflowDefinition): unknown {
  return z.toJSONSchema(parametersSchema(def), { io: "input", unrepresentable: "any" });
}

/** Problems with a definition's own default for one parameter (checked at load). */
export function defaultProblems(p: ParameterDefinition): string[] {
  if (p.default === undefined) return [];
  const r = valueSchema(p).safeParse(p.default);
  return r.success ? [] : r.error.issues.map((i) => i.message);
}

export interface ResolvedParameters {
  /** Every value that will be patched in: the client's, plus defaults and generated seeds. */
  values: Record<string, unknown>;
  /** Names the client set, so provided values win over generated ones on a shared target. */
  provided: Set<string>;
}

export function resolveParameters(
  def: WorkflowDefinition,
  input: Record<string, unknown>,
): ResolvedParameters {
  const parsed = parametersSchema(def).safeParse(input);
  if (!parsed.success) {
    const known = Object.keys(def.parameters).sort();
    const fields: FieldProblem[] = parsed.error.issues.flatMap((i): FieldProblem[] => {
      if (i.code === "unrecognized_keys") {
        return i.keys.map((k) => ({
          field: `parameters.${k}`,
          message: `unknown parameter "${k}"; known parameters: ${known.join(", ") || "(none)"}`,
        }));
      }
      const name = String(i.path[0] ?? "");
      const p = def.parameters[name];
      const field = `parameters.${name}`;
      if (input[name] === undefined) return [{ field, message: "required parameter is missing" }];
      const got = JSON.stringify(input[name]);
      if (p?.choices) return [{ field, message: `expected one of ${JSON.stringify(p.choices)}, got ${got}` }];
      return [{ field, message: `${i.message}${p ? ` (type ${p.type}, got ${got})` : ""}` }];
    });
    throw new AppError("PARAMETER_INVALID", `Invalid parameters for workflow "${def.id}"`, {
      workflow_id: def.id,
      fields,
    });
  }
  const values: Record<string, unknown> = {};
  const provided = new Set<string>();
  for (const [name, v] of Object.entries(parsed.data)) {
    if (v === undefined) continue;
    values[name] = v;
    provided.add(name);
  }
  // A bare export's literals are already in its graph; only a definition's declared defaults need patching.
  if (def.format === "definition") {
    for (const [name, p] of Object.entries(def.parameters)) {
      if (values[name] === undefined && p.default !== undefined && p.type !== "seed")
        values[name] = p.default;
    }
  }
  const providedTargets = new Set([...provided].flatMap((n) => def.parameters[n]?.targets ?? []));
  for (const [name, p] of Object.entries(def.parameters)) {
    if (p.type !== "seed") continue;
    if (values[name] !== undefined && values[name] !== -1) continue;
    // A seed the client set through another name (e.g. "3.seed" beside "seed") is not replaced.
    if (values[name] === undefined && p.targets.some((t) => providedTargets.has(t))) continue;
    values[name] = randomInt(0, 2 ** 48 - 1);
  }
  return { values, provided };
}
