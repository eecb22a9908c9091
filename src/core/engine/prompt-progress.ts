// How far one prompt has got, from whatever its host sends: `progress_state` (ComfyUI ≥ 0.3.4x: every node,
// nested ones too, with running/finished states), else `executing` and `progress`. Each node that will run
// counts equally; a finished node counts whole as soon as the host says so, so the percent moves steadily
// through the last nodes instead of waiting for the next node to start.
import type { ApiGraph, JobProgress } from "../models.js";

interface NodeProgress {
  value: number;
  max: number;
  finished: boolean;
}

export class PromptProgress {
  private readonly nodes = new Map<string, NodeProgress>();
  private readonly cached = new Set<string>();
  private current: string | null = null;
  private last: JobProgress | null = null;

  constructor(private readonly graph: ApiGraph) {}

  /** `execution_cached`: these nodes will not run and do not count. */
  cachedNodes(ids: unknown[]): void {
    for (const id of ids) this.cached.add(String(id));
  }

  /** `executing`: on hosts without progress_state, the node before it has finished. */
  executing(nodeId: string): JobProgress | null {
    if (this.current && this.current !== nodeId) this.finish(this.current);
    this.entry(nodeId);
    this.current = nodeId;
    return this.report(nodeId);
  }

  /** `progress`: a step of the node's own work (sampler steps, tiles). */
  step(nodeId: string, value: number, max: number): JobProgress | null {
    const e = this.entry(nodeId);
    if (!e.finished) Object.assign(e, { value, max: Math.max(1, max) });
    this.current = nodeId;
    return this.report(nodeId);
  }

  /** `progress_state`: the host's own view of every node it has touched. */
  state(nodes: Record<string, unknown>): JobProgress | null {
    let focus: string | null = null;
    for (const [id, raw] of Object.entries(nodes)) {
      const n = raw as { value?: unknown; max?: unknown; state?: unknown; display_node_id?: unknown };
      // Nested (subgraph) nodes report under their display node, which is the one in our graph.
      const key = typeof n.display_node_id === "string" && !this.graph[id] ? n.display_node_id : id;
      const e = this.entry(key);
      if (n.state === "finished") e.finished = true;
      else if (!e.finished) {
        const max = Math.max(1, Number(n.max) || 1);
        Object.assign(e, { value: Math.min(max, Math.max(0, Number(n.value) || 0)), max });
      }
      if (n.state === "running") focus = key;
    }
    if (focus) this.current = focus;
    return this.report(focus ?? this.current);
  }

  private finish(nodeId: string): void {
    this.entry(nodeId).finished = true;
  }

  private entry(nodeId: string): NodeProgress {
    let e = this.nodes.get(nodeId);
    if (!e) {
      e = { value: 0, max: 1, finished: false };
      this.nodes.set(nodeId, e);
    }
    return e;
  }

  /** Only a change is worth an event: progress_state repeats what `progress` already said. */
  private report(nodeId: string | null): JobProgress | null {
    const ids = Object.keys(this.graph).filter((id) => !this.cached.has(id));
    let done = 0;
    for (const id of ids) {
      const e = this.nodes.get(id);
      if (e) done += e.finished ? 1 : Math.min(1, e.value / e.max);
    }
    const percent = Number(Math.min(99.9, (done / Math.max(1, ids.length)) * 100).toFixed(1));
    const e = nodeId ? this.nodes.get(nodeId) : undefined;
    const node = nodeId ? this.graph[nodeId] : undefined;
    const p: JobProgress = {
      value: e ? (e.finished ? e.max : e.value) : 0,
      max: e?.max ?? 1,
      node_id: nodeId,
      node_title: node?._meta?.title ?? node?.class_type ?? null,
      percent: Math.max(percent, this.last?.percent ?? 0),
    };
    const l = this.last;
    if (l && l.percent === p.percent && l.node_id === p.node_id && l.value === p.value && l.max === p.max)
      return null;
    this.last = p;
    return p;
  }
}
