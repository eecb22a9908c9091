// The workflow file format: a definition with typed parameters, or a bare ComfyUI API export from which
// parameters are derived. Turns one file's JSON into a checked WorkflowDefinition or a list of reasons.
import { z } from "zod";
import { isFileInput, isImageFileInput } from "../file-inputs.js";
import { type ApiGraph, ApiGraphSchema } from "../models.js";

export const PARAMETER_TYPES = ["string", "integer", "number", "boolean", "seed", "enum", "image"] as const;

export const ParameterDefinitionSchema = z.strictObject({
  type: z.enum(PARAMETER_TYPES),
  /** "NODE_ID.INPUT" entries; one value may patch several inputs (one seed into two samplers). */
  targets: z.array(z.string().regex(/^[^.]+\..+$/, 'expected "NODE_ID.INPUT"')).min(1),
  default: z.unknown().optional(),
  required: z.boolean().default(false),
  min: z.number().optional(),
  max: z.number().optional(),
  choices: z
    .array(z.union([z.string(), z.number()]))
    .min(1)
    .optional(),
  description: z.string().optional(),
});
export type ParameterDefinition = z.infer<typeof ParameterDefinitionSchema>;

export const WorkflowDefinitionSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/, "expected letters, digits, '_', '.' or '-'"),
  name: z.string().min(1).optional(),
  description: z.string().optional(),
  requires: z.array(z.string().min(1)).default([]),
  min_vram_gb: z.number().positive().optional(),
  timeout_s: z.number().positive().optional(),
  graph: ApiGraphSchema,
  parameters: z.record(z.string().regex(/^[A-Za-z0-9_.:-]+$/), ParameterDefinitionSchema).default({}),
});
export type WorkflowDefinitionInput = z.input<typeof WorkflowDefinitionSchema>;

export interface WorkflowDefinition extends z.infer<typeof WorkflowDefinitionSchema> {
  name: string;
  /** "definition" for our format, "api_export" for a bare ComfyUI export. */
  format: "definition" | "api_export";
  /** Content hash: jobs record which version of a workflow they were accepted with. */
  version: string;
}

export type LoadResult =
  | { ok: true; workflow: WorkflowDefinition }
  | { ok: false; id: string; reasons: string[] };

export const isLink = (v: unknown): v is [string, number] =>
  Array.isArray(v) && v.length === 2 && typeof v[0] === "string" && typeof v[1] === "number";

/** Turns a file's parsed JSON into a definition (not yet checked against its own graph). */
export function toDefinition(json: unknown, fileId: string, version: string): LoadResult {
  if (
    json &&
    typeof json === "object" &&
    !Array.isArray(json) &&
    Array.isArray((json as { nodes?: unknown }).nodes)
  ) {
    return {
      ok: false,
      id: fileId,
      reasons: [
        "this is a ComfyUI UI-format workflow (top-level `nodes` and `links`), which /prompt does not accept; " +
          'in ComfyUI enable Settings → "Dev mode", then use Workflow → Export (API) and save that file instead',
      ],
    };
  }
  const isDefinition = json !== null && typeof json === "object" && "graph" in json;
  if (isDefinition) {
    const parsed = WorkflowDefinitionSchema.safeParse({ id: fileId, ...(json as object) });
    if (!parsed.success) return { ok: false, id: fileId, reasons: parsed.error.issues.map(issueText) };
    const def = parsed.data;
    return { ok: true, workflow: { ...def, name: def.name ?? def.id, format: "definition", version } };
  }
  const graph = ApiGraphSchema.safeParse(json);
  if (!graph.success) {
    return {
      ok: false,
      id: fileId,
      reasons: [
        "not a workflow: expected a definition with a `graph`, or a ComfyUI API-format export",
        ...graph.error.issues.slice(0, 5).map(issueText),
      ],
    };
  }
  return {
    ok: true,
    workflow: {
      id: fileId,
      name: fileId,
      requires: [],
      graph: graph.data,
      parameters: deriveParameters(graph.data),
      format: "api_export",
      version,
    },
  };
}

function issueText(i: z.core.$ZodIssue): string {
  const where = i.path.length ? i.path.map(String).join(".") : "(file)";
  if (i.code === "unrecognized_keys") return `${where}: unknown key(s) ${i.keys.join(", ")}`;
  return `${where}: ${i.message}`;
}

const slug = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_|_$/g, "");

const SEED_INPUTS = new Set(["seed", "noise_seed"]);

/**
 * Parameters of a bare export, from most to least specific (a more specific name is never shadowed):
 * 1. `NODE_ID.INPUT` for every literal input;
 * 2. `<title>.INPUT` for nodes whose `_meta.title` is set, the title lower-cased with non-alphanumerics
 *    turned into `_` ("Positive Prompt" → `positive_prompt.text`), when that name is unique;
 * 3. `INPUT` alone, patching every literal input of that name, when they all hold the same type.
 * Types follow the literal: string, number, boolean; inputs named seed/noise_seed are seeds; an image
 * loader's file input is an `image` (media we upload), other loaders' file inputs are no parameter at all.
 */
export function deriveParameters(graph: ApiGraph): Record<string, ParameterDefinition> {
  const params: Record<string, ParameterDefinition> = {};
  const byTitle = new Map<string, string[]>();
  const byInput = new Map<string, { targets: string[]; types: Set<string>; first: unknown }>();
  for (const [nodeId, node] of Object.entries(graph)) {
    const title = node._meta?.title ? slug(node._meta.title) : "";
    for (const [input, value] of Object.entries(node.inputs)) {
      if (isLink(value) || value === null || typeof value === "object") continue;
      // A file the host opens: an image loader takes an image we upload, any other loader no client value.
      if (isFileInput(node.class_type, input) && !isImageFileInput(node.class_type, input)) continue;
      const type = isFileInput(node.class_type, input) ? "image" : literalType(input, value);
      if (!type) continue;
      const target = `${nodeId}.${input}`;
      params[target] = { type, targets: [target], default: value, required: false };
      if (title) byTitle.set(`${title}.${input}`, [...(byTitle.get(`${title}.${input}`) ?? []), target]);
      const entry = byInput.get(input) ?? { targets: [], types: new Set(), first: value };
      entry.targets.push(target);
      entry.types.add(type);
      byInput.set(input, entry);
    }
  }
  for (const [name, targets] of byTitle) {
    if (targets.length !== 1 || params[name]) continue;
    params[name] = { ...params[targets[0]!]!, targets };
  }
  for (const [name, entry] of byInput) {
    if (entry.types.size !== 1 || params[name]) continue;
    params[name] = {
      type: [...entry.types][0] as ParameterDefinition["type"],
      targets: entry.targets,
      default: entry.first,
      required: false,
    };
  }
  return params;
}

function literalType(input: string, value: unknown): ParameterDefinition["type"] | null {
  if (typeof value === "boolean") return "boolean";
  if (typeof value === "string") return "string";
  if (typeof value === "number") return SEED_INPUTS.has(input) && Number.isInteger(value) ? "seed" : "number";
  return null;
}

/** Checks a definition against its own graph: targets, links, defaults, constraints. */
export function checkDefinition(
  def: WorkflowDefinition,
  defaultProblems: (name: string) => string[],
): string[] {
  const reasons: string[] = [];
  const nodes = Object.entries(def.graph);
  if (nodes.length === 0) reasons.push("graph: has no nodes");
  for (const [nodeId, node] of nodes) {
    for (const [input, value] of Object.entries(node.inputs)) {
      if (isLink(value) && !def.graph[value[0]]) {
        reasons.push(`graph.${nodeId}.inputs.${input}: links to node "${value[0]}", which does not exist`);
      }
    }
  }
  for (const [name, p] of Object.entries(def.parameters)) {
    for (const target of p.targets) {
      const dot = target.indexOf(".");
      const nodeId = target.slice(0, dot);
      const input = target.slice(dot + 1);
      const node = def.graph[nodeId];
      if (!node) reasons.push(`parameters.${name}.targets: node "${nodeId}" does not exist in the graph`);
      else if (!(input in node.inputs)) {
        reasons.push(
          `parameters.${name}.targets: node "${nodeId}" (${node.class_type}) has no input "${input}"`,
        );
      }
    }
    if (p.type === "enum" && !p.choices) reasons.push(`parameters.${name}.choices: required for type enum`);
    if (p.min !== undefined && p.max !== undefined && p.min > p.max) {
      reasons.push(`parameters.${name}: min ${p.min} is greater than max ${p.max}`);
    }
    if (p.required && p.default !== undefined) {
      reasons.push(`parameters.${name}: a required parameter cannot have a default`);
    }
    for (const problem of defaultProblems(name)) reasons.push(`parameters.${name}.default: ${problem}`);
  }
  return reasons;
}
