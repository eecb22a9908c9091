// A project's graph: which node feeds which, how `count` fans a node out (and maps its dependents over the
// variants), which runs are ready, which must be skipped, and what the project's status is. Pure functions
// over the project and its rows; no HTTP, no ComfyUI, no I/O — the JobManager applies what they decide.
import type { FieldProblem } from "../../errors.js";
import {
  type CanvasNode,
  isNodeLink,
  isTerminal,
  type JobStatus,
  MAX_PROJECT_RUNS,
  type NodeLink,
  type Project,
} from "../models.js";
import type { RunRow } from "../storage/project-rows.js";

export interface NodeLinkRef extends NodeLink {
  parameter: string;
}

export function linksOf(node: CanvasNode): NodeLinkRef[] {
  return Object.entries(node.parameter_values)
    .filter(([, v]) => isNodeLink(v))
    .map(([parameter, v]) => ({ parameter, ...(v as NodeLink) }));
}

/**
 * Problems of the graph itself, with paths relative to the project (`nodes[2].parameters.image`): duplicate
 * ids, links to unknown nodes, cycles (naming their nodes), and fan-out a node cannot map over.
 */
export function graphProblems(project: Project): FieldProblem[] {
  const nodes = project.canvas_layout.nodes;
  const problems: FieldProblem[] = [];
  const index = new Map<string, number>();
  nodes.forEach((n, i) => {
    const first = index.get(n.id);
    if (first !== undefined) {
      problems.push({
        field: `nodes[${i}].id`,
        message: `duplicate node id "${n.id}" (also nodes[${first}])`,
      });
    } else index.set(n.id, i);
  });
  nodes.forEach((n, i) => {
    for (const l of linksOf(n)) {
      if (!index.has(l.from)) {
        problems.push({
          field: `nodes[${i}].parameters.${l.parameter}`,
          message: `links to unknown node "${l.from}"; nodes: ${[...index.keys()].join(", ")}`,
        });
      }
    }
  });
  if (problems.length) return problems;
  const cycle = findCycle(nodes, index);
  if (cycle) {
    return [
      {
        field: `nodes[${index.get(cycle[0]!)}]`,
        message: `the links form a cycle: ${[...cycle, cycle[0]].join(" → ")}`,
      },
    ];
  }
  const variants = variantCounts(project);
  nodes.forEach((n, i) => {
    const fanned = new Set(
      linksOf(n)
        .map((l) => variants.get(l.from) ?? 1)
        .filter((v) => v > 1),
    );
    if (fanned.size > 1) {
      problems.push({
        field: `nodes[${i}].parameters`,
        message: `links to nodes fanned out to different counts (${[...fanned].join(", ")}); one node maps over one fan-out`,
      });
    } else if (fanned.size === 1 && n.count > 1) {
      problems.push({
        field: `nodes[${i}].count`,
        message:
          "a node linked to a fanned-out node already runs once per variant; it cannot set its own count",
      });
    }
  });
  const runs = [...variants.values()].reduce((a, b) => a + b, 0);
  if (runs > MAX_PROJECT_RUNS) {
    problems.push({
      field: "nodes",
      message: `the project expands to ${runs} runs (counting every variant); the limit is ${MAX_PROJECT_RUNS}`,
    });
  }
  return problems;
}

function findCycle(nodes: CanvasNode[], index: Map<string, number>): string[] | null {
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (id: string): string[] | null => {
    if (state.get(id) === "done") return null;
    if (state.get(id) === "open") return stack.slice(stack.indexOf(id));
    state.set(id, "open");
    stack.push(id);
    for (const l of linksOf(nodes[index.get(id)!]!)) {
      const c = visit(l.from);
      if (c) return c;
    }
    stack.pop();
    state.set(id, "done");
    return null;
  };
  for (const n of nodes) {
    const c = visit(n.id);
    if (c) return c;
  }
  return null;
}

/** Per node, how many times it runs: its own count, or the fan-out of the upstream it maps over. */
export function variantCounts(project: Project): Map<string, number> {
  const nodes = new Map(project.canvas_layout.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  const count = (id: string, depth: number): number => {
    const known = out.get(id);
    if (known !== undefined) return known;
    const n = nodes.get(id);
    if (!n || depth > nodes.size) return 1; // unknown or cyclic: reported by graphProblems
    const upstream = Math.max(1, ...linksOf(n).map((l) => count(l.from, depth + 1)));
    const v = upstream > 1 ? upstream : n.count;
    out.set(id, v);
    return v;
  };
  for (const id of nodes.keys()) count(id, 0);
  return out;
}

export interface PlannedRun {
  node: CanvasNode;
  /** The node's position in the project (for error paths). */
  index: number;
  /** 0..n-1 when the node runs more than once, else null. */
  variant: number | null;
  key: string;
  links: (NodeLinkRef & { runKey: string })[];
}

export const runKey = (nodeId: string, variant: number | null) =>
  variant === null ? nodeId : `${nodeId}#${variant}`;

/** Every run of a checked project, upstream nodes first: a fanned-out node's variant i feeds variant i below. */
export function expandRuns(project: Project): PlannedRun[] {
  const variants = variantCounts(project);
  const nodes = project.canvas_layout.nodes;
  const index = new Map(nodes.map((n, i) => [n.id, i]));
  const ordered: CanvasNode[] = [];
  const seen = new Set<string>();
  const place = (n: CanvasNode) => {
    if (seen.has(n.id)) return;
    seen.add(n.id);
    for (const l of linksOf(n)) place(nodes[index.get(l.from)!]!);
    ordered.push(n);
  };
  for (const n of nodes) place(n);
  return ordered.flatMap((node) => {
    const v = variants.get(node.id) ?? 1;
    return Array.from({ length: v }, (_, i): PlannedRun => {
      const variant = v > 1 ? i : null;
      return {
        node,
        index: index.get(node.id)!,
        variant,
        key: runKey(node.id, variant),
        links: linksOf(node).map((l) => ({
          ...l,
          runKey: runKey(l.from, (variants.get(l.from) ?? 1) > 1 ? i : null),
        })),
      };
    });
  });
}

/** Waiting runs whose upstream runs have all completed. */
export function readyRuns(runs: RunRow[]): RunRow[] {
  const status = new Map(runs.map((r) => [r.id, r.status]));
  return runs.filter(
    (r) => r.status === "waiting" && r.links.every((l) => status.get(l.run_id) === "completed"),
  );
}

/** Waiting runs that can never start, each with the run that ended badly upstream of it (transitively). */
export function runsToSkip(runs: RunRow[]): { run: RunRow; cause: RunRow }[] {
  const byId = new Map(runs.map((r) => [r.id, r]));
  const cause = new Map<string, RunRow>();
  const bad = (r: RunRow) => r.status === "failed" || r.status === "cancelled" || r.status === "skipped";
  // Each pass settles at least one more level of the graph; the bound is its depth.
  for (let pass = 0, changed = true; changed && pass <= runs.length; pass++) {
    changed = false;
    for (const r of runs) {
      if (r.status !== "waiting" || cause.has(r.id)) continue;
      for (const l of r.links) {
        const up = byId.get(l.run_id);
        if (!up) continue;
        const upCause = cause.get(up.id);
        if (upCause || bad(up)) {
          cause.set(r.id, upCause ?? up);
          changed = true;
          break;
        }
      }
    }
  }
  return [...cause].map(([id, c]) => ({ run: byId.get(id)!, cause: c }));
}

/**
 * A project's status from its runs: still going while any run is; `completed` when all completed; `failed`
 * when any failed or was skipped (what did complete stays downloadable); `cancelled` otherwise.
 */
export function projectStatus(runs: RunRow[]): JobStatus {
  if (runs.some((r) => !isTerminal(r.status))) {
    return runs.some((r) => r.status !== "waiting" && r.status !== "queued") ||
      runs.some((r) => isTerminal(r.status))
      ? "running"
      : "queued";
  }
  if (runs.every((r) => r.status === "completed")) return "completed";
  if (runs.some((r) => r.status === "failed" || r.status === "skipped")) return "failed";
  return "cancelled";
}

/** Whole-project percent: every run weighs the same; an ended run counts as done. */
export function projectPercent(runs: RunRow[], live: (id: string) => number | undefined): number {
  if (runs.length === 0) return 0;
  const sum = runs.reduce(
    (s, r) => s + (isTerminal(r.status) ? 100 : (live(r.id) ?? r.progress?.percent ?? 0)),
    0,
  );
  return Number(Math.min(99.9, sum / runs.length).toFixed(1));
}

export const describeRun = (r: Pick<RunRow, "project_node" | "variant">) =>
  r.variant === null ? `"${r.project_node}"` : `"${r.project_node}" (variant ${r.variant})`;
