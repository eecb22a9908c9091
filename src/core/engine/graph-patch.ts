// Builds the graph one job sends to ComfyUI from a workflow template, never mutating the template.
import type { ApiGraph } from "../models.js";
import type { WorkflowDefinition } from "../storage/workflow-definition.js";
import type { ResolvedParameters } from "./parameters.js";

export function splitTarget(target: string): { nodeId: string; input: string } {
  const dot = target.indexOf(".");
  return { nodeId: target.slice(0, dot), input: target.slice(dot + 1) };
}

/**
 * Defaults first, then values the client gave, so an explicit value always wins on a shared target.
 * Every `filename_prefix` gets the job id: on a shared host our outputs stay attributable.
 */
export function patchGraph(def: WorkflowDefinition, params: ResolvedParameters, jobId: string): ApiGraph {
  const graph = structuredClone(def.graph);
  const apply = (name: string, value: unknown) => {
    for (const target of def.parameters[name]?.targets ?? []) {
      const { nodeId, input } = splitTarget(target);
      const node = graph[nodeId];
      if (node) node.inputs[input] = value;
    }
  };
  for (const [name, value] of Object.entries(params.values))
    if (!params.provided.has(name)) apply(name, value);
  for (const [name, value] of Object.entries(params.values))
    if (params.provided.has(name)) apply(name, value);
  for (const node of Object.values(graph)) {
    const prefix = node.inputs.filename_prefix;
    if (typeof prefix === "string") node.inputs.filename_prefix = `${prefix}_${jobId}`;
  }
  return graph;
}

export function setInput(graph: ApiGraph, target: string, value: unknown): void {
  const { nodeId, input } = splitTarget(target);
  const node = graph[nodeId];
  if (node) node.inputs[input] = value;
}
