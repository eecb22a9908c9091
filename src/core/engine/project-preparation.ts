// Turns a submitted Project into the rows to insert: every problem of the graph and of every node found at
// once (one 400), then one run per node and variant. A project that comes to one run is stored as that one
// row (the single-workflow job); a larger one gets a row of its own that holds the graph and never runs.
import { randomUUID } from "node:crypto";
import { AppError, type FieldProblem } from "../../errors.js";
import type { Project, RunLink } from "../models.js";
import type { NewJob } from "../storage/job-store.js";
import type { WorkflowDefinition } from "../storage/workflow-definition.js";
import { mediaError, type PreparationDeps, prepareRun } from "./job-preparation.js";
import { resolveParameters } from "./parameters.js";
import { expandRuns, graphProblems, linksOf } from "./project-graph.js";

/** How the client wrote the project: a single manifest keeps today's field paths and 404 for a workflow. */
export type ManifestForm = "manifest" | "project";

/** Stands in for a linked image during validation; the real file is set when the upstream node is done. */
const LINK_PLACEHOLDER = "link:pending";
const IMAGE_OUTPUT = /^(SaveImage|PreviewImage|SaveAnimatedWEBP|SaveAnimatedPNG)$/;

export async function prepareProject(
  project: Project,
  deps: PreparationDeps,
  form: ManifestForm,
): Promise<Omit<NewJob, "idempotency_key" | "owner">[]> {
  const nodes = project.canvas_layout.nodes;
  const path = (i: number) => (form === "manifest" ? "" : `project.nodes[${i}].`);
  const problems: FieldProblem[] = graphProblems(project).map((p) => ({
    ...p,
    field: form === "manifest" ? p.field.replace(/^nodes\[\d+\]\.?/, "") || "body" : `project.${p.field}`,
  }));
  const workflows = new Map<string, WorkflowDefinition>();
  nodes.forEach((n, i) => {
    try {
      workflows.set(n.id, deps.workflows.get(n.workflow_id));
    } catch (err) {
      if (form === "manifest" || !(err instanceof AppError) || err.code !== "WORKFLOW_NOT_FOUND") throw err;
      problems.push({ field: `${path(i)}workflow_id`, message: err.message });
    }
  });
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const paramProblems: FieldProblem[] = [];
  nodes.forEach((n, i) => {
    const wf = workflows.get(n.id);
    if (!wf) return;
    const seeds = Object.values(wf.parameters).filter((p) => p.type === "seed");
    if (n.count > 1 && seeds.length === 0) {
      problems.push({
        field: `${path(i)}count`,
        message: `workflow "${wf.id}" has no seed parameter, so its variants would all be the same`,
      });
    }
    for (const l of linksOf(n)) {
      const p = wf.parameters[l.parameter];
      const field = `${path(i)}parameters.${l.parameter}`;
      if (p && p.type !== "image") {
        problems.push({ field, message: `only image parameters take a link; this one is ${p.type}` });
      }
      const up = byId.get(l.from);
      const upWf = up && workflows.get(up.id);
      if (upWf && !Object.values(upWf.graph).some((g) => IMAGE_OUTPUT.test(g.class_type))) {
        problems.push({ field, message: `node "${l.from}" (workflow "${upWf.id}") has no image output` });
      }
    }
    try {
      resolveParameters(wf, withPlaceholders(n.parameter_values, linksOf(n)));
    } catch (err) {
      if (!(err instanceof AppError) || err.code !== "PARAMETER_INVALID") throw err;
      if (form === "manifest" && problems.length === 0) throw err; // today's error, unchanged
      const fields = (err.details as { fields: FieldProblem[] }).fields;
      for (const f of fields) paramProblems.push({ field: `${path(i)}${f.field}`, message: f.message });
    }
  });
  if (problems.length || paramProblems.length) {
    // The graph's own problems are the manifest's; a workflow's parameter problems keep today's code.
    const code = problems.length ? "VALIDATION_FAILED" : "PARAMETER_INVALID";
    problems.push(...paramProblems);
    const message = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
    throw new AppError(code, message.length > 2000 ? `${message.slice(0, 2000)}…` : message, {
      fields: problems,
    });
  }
  return planRows(project, workflows, deps, path);
}

function withPlaceholders(values: Record<string, unknown>, links: { parameter: string }[]) {
  const out = { ...values };
  for (const l of links) out[l.parameter] = LINK_PLACEHOLDER;
  return out;
}

async function planRows(
  project: Project,
  workflows: Map<string, WorkflowDefinition>,
  deps: PreparationDeps,
  path: (i: number) => string,
): Promise<Omit<NewJob, "idempotency_key" | "owner">[]> {
  const planned = expandRuns(project);
  const single = planned.length === 1;
  const projectId = randomUUID();
  const ids = new Map(planned.map((r) => [r.key, single ? projectId : randomUUID()]));
  const rows: Omit<NewJob, "idempotency_key" | "owner">[] = [];
  const problems: FieldProblem[] = [];
  for (const run of planned) {
    const wf = workflows.get(run.node.id)!;
    const values = withPlaceholders(run.node.parameter_values, run.links);
    const seed = Object.entries(wf.parameters).find(([, p]) => p.type === "seed")?.[0];
    const given = seed === undefined ? undefined : values[seed];
    // Variants of a given seed are seed, seed+1, …: each differs and the set is reproducible.
    if (run.variant !== null && seed && typeof given === "number" && given !== -1) {
      values[seed] = given + run.variant;
    }
    const links: RunLink[] = run.links.map((l) => ({
      parameter: l.parameter,
      targets: wf.parameters[l.parameter]?.targets ?? [],
      run_id: ids.get(l.runKey)!,
      from: l.from,
      ...(l.output !== undefined ? { output: l.output } : {}),
    }));
    try {
      const r = await prepareRun(
        {
          id: ids.get(run.key)!,
          projectId,
          node: run.node,
          variant: run.variant,
          resolved: resolveParameters(wf, values),
          links,
          fieldPrefix: path(run.index),
        },
        wf,
        project,
        deps,
      );
      if ("problems" in r) problems.push(...r.problems);
      else rows.push(r.job);
    } catch (err) {
      await Promise.all(rows.map((row) => deps.files.remove("inputs", row.id)));
      if (err instanceof AppError && err.code === "NO_CAPABLE_BACKEND" && !single) {
        throw new AppError("NO_CAPABLE_BACKEND", `No configured backend can run node "${run.node.id}"`, {
          field: `${path(run.index)}workflow_id`,
          node: run.node.id,
          workflow_id: wf.id,
          ...(err.details as object),
        });
      }
      throw err;
    }
  }
  if (problems.length) {
    await Promise.all(rows.map((row) => deps.files.remove("inputs", row.id)));
    throw mediaError(problems);
  }
  if (single) return rows;
  const first = rows[0]!;
  const head: Omit<NewJob, "idempotency_key" | "owner"> = {
    ...first,
    id: projectId,
    status: "queued",
    workflow_id: "",
    workflow_version: "",
    parameters: {},
    graph: {},
    requires: [],
    min_vram_gb: null,
    timeout_s: Math.max(...rows.map((r) => r.timeout_s)),
    webhook_url: project.options.webhook_url ?? null,
    metadata: project.options.metadata ?? null,
    inputs: [],
    project_node: null,
    variant: null,
    project: {
      nodes: project.canvas_layout.nodes.map((n) => ({
        id: n.id,
        workflow_id: n.workflow_id,
        count: n.count,
      })),
    },
    links: [],
  };
  return [head, ...rows];
}
