// Turns one node of a Project into a run ready to queue: the workflow's current version, checked parameters (with a
// recorded seed), the patched graph, and input images decoded, checked and stored for every later attempt.
import { randomUUID } from "node:crypto";
import { AppError, type FieldProblem } from "../../errors.js";
import { isFileInput } from "../file-inputs.js";
import { type ImageSourceContext, resolveImage } from "../media/image-input.js";
import type { ApiGraph, CanvasNode, JobInput, Project, RunLink } from "../models.js";
import type { FileStore } from "../storage/file-store.js";
import type { NewJob } from "../storage/job-store.js";
import type { WorkflowDefinition } from "../storage/workflow-definition.js";
import type { WorkflowStorage } from "../storage/workflow-storage.js";
import { patchGraph, setInput, splitTarget } from "./graph-patch.js";
import { type ResolvedParameters, resolveParameters } from "./parameters.js";

export interface PreparationDeps {
  workflows: WorkflowStorage;
  files: FileStore;
  media: Omit<ImageSourceContext, "files">;
  defaults: { timeoutS: number; maxAttempts: number };
  assertCapable: (job: { graph: ApiGraph; requires: string[]; min_vram_gb: number | null }) => void;
}

/** One run of one project node, as planned by the project's preparation. */
export interface RunPlan {
  id: string;
  projectId: string;
  node: CanvasNode;
  variant: number | null;
  /** Checked values; a linked image parameter holds a placeholder until its upstream output exists. */
  resolved: ResolvedParameters;
  links: RunLink[];
  /** Where this node's fields are in the request: "" for a single manifest, else "project.nodes[i].". */
  fieldPrefix: string;
}

/** A single-workflow manifest's job: the one run of a one-node project. */
export async function prepareJob(
  project: Project,
  deps: PreparationDeps,
): Promise<Omit<NewJob, "idempotency_key" | "owner">> {
  const node = project.canvas_layout.nodes[0]!;
  const wf = deps.workflows.get(node.workflow_id);
  const id = randomUUID();
  const plan: RunPlan = {
    id,
    projectId: id,
    node,
    variant: null,
    resolved: resolveParameters(wf, node.parameter_values),
    links: [],
    fieldPrefix: "",
  };
  const row = await prepareRun(plan, wf, project, deps);
  if ("problems" in row) throw mediaError(row.problems);
  return row.job;
}

export function mediaError(problems: FieldProblem[]): AppError {
  return new AppError("MEDIA_INVALID", problems.map((p) => `${p.field}: ${p.message}`).join("; "), {
    fields: problems,
  });
}

/** Patches the graph and stores the run's input images; image problems come back, named by field. */
export async function prepareRun(
  plan: RunPlan,
  wf: WorkflowDefinition,
  project: Project,
  deps: PreparationDeps,
): Promise<{ job: Omit<NewJob, "idempotency_key" | "owner"> } | { problems: FieldProblem[] }> {
  const { id, resolved } = plan;
  const graph = patchGraph(wf, resolved, id);
  const requires = wf.requires;
  const min_vram_gb = wf.min_vram_gb ?? null;
  deps.assertCapable({ graph, requires, min_vram_gb });
  assertNoClientFiles(wf, resolved.provided, plan.fieldPrefix);

  const inputs: JobInput[] = [];
  const problems: FieldProblem[] = [];
  const parameters: Record<string, unknown> = { ...resolved.values };
  const linked = new Set(plan.links.map((l) => l.parameter));
  for (const [name, p] of Object.entries(wf.parameters)) {
    const value = resolved.values[name];
    if (p.type !== "image" || typeof value !== "string") continue;
    if (linked.has(name)) {
      parameters[name] = plan.node.parameter_values[name];
      continue;
    }
    const field = `${plan.fieldPrefix}parameters.${name}`;
    try {
      const img = await resolveImage(value, field, { ...deps.media, files: deps.files });
      const filename = `${name}.${img.ext}`;
      const file = await deps.files.saveBytes("inputs", id, filename, img.bytes);
      inputs.push({
        parameter: name,
        targets: p.targets,
        file,
        filename,
        content_type: img.contentType,
        size: img.bytes.length,
      });
      // The host-side name is only known after upload; until then the graph names our upload.
      for (const t of p.targets) setInput(graph, t, `${id}_${filename}`);
      // Never store a client's base64 blob in the job record: keep where it came from.
      parameters[name] = /^(job:|https?:)/i.test(value) ? value : `upload:${filename}`;
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
      problems.push({ field, message: (err.details as { message?: string }).message ?? err.message });
    }
  }
  if (problems.length > 0) {
    await deps.files.remove("inputs", id);
    return { problems };
  }

  const timestamp = new Date().toISOString();
  const single = plan.projectId === id;
  return {
    job: {
      id,
      status: plan.links.length ? "waiting" : "queued",
      workflow_id: wf.id,
      workflow_version: wf.version,
      parameters,
      graph,
      requires,
      min_vram_gb,
      timeout_s: project.options.timeout_s ?? wf.timeout_s ?? deps.defaults.timeoutS,
      priority: project.options.priority,
      // A project's own row carries these; its runs report to it.
      webhook_url: single ? (project.options.webhook_url ?? null) : null,
      metadata: single ? (project.options.metadata ?? null) : null,
      inputs,
      backend_id: null,
      prompt_id: null,
      attempt: 0,
      max_attempts: deps.defaults.maxAttempts,
      progress: null,
      error: null,
      created_at: timestamp,
      started_at: null,
      finished_at: null,
      not_before: null,
      project_id: plan.projectId,
      project_node: plan.node.id,
      variant: plan.variant,
      project: null,
      links: plan.links,
    },
  };
}

/** A value the client set may reach a file input only as an `image` parameter, i.e. as media we upload. */
function assertNoClientFiles(wf: WorkflowDefinition, provided: ReadonlySet<string>, prefix: string): void {
  const fields: FieldProblem[] = [];
  for (const name of provided) {
    const p = wf.parameters[name];
    if (!p || p.type === "image") continue;
    for (const target of p.targets) {
      const { nodeId, input } = splitTarget(target);
      const node = wf.graph[nodeId];
      if (!node || !isFileInput(node.class_type, input)) continue;
      fields.push({
        field: `${prefix}parameters.${name}`,
        message: `sets ${node.class_type}.${input} (node ${nodeId}), a file on the host: file inputs take only media uploaded with the job (an image parameter)`,
      });
      break;
    }
  }
  if (fields.length > 0) {
    throw new AppError("PARAMETER_INVALID", fields.map((f) => `${f.field}: ${f.message}`).join("; "), {
      workflow_id: wf.id,
      fields,
    });
  }
}
