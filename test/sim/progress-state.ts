// comfy_execution/progress.py's registry for one prompt: every node that has started or finished, with its
// value/max/state, sent whole as `progress_state` at each node start, progress step and node finish.
export type NodeState = "pending" | "running" | "finished";

export class ProgressState {
  private readonly nodes = new Map<string, { value: number; max: number; state: NodeState }>();

  constructor(
    private readonly promptId: string,
    private readonly send: (data: Record<string, unknown>) => void,
  ) {}

  start(nodeId: string): void {
    this.nodes.set(nodeId, { value: 0, max: 1, state: "running" });
    this.emit();
  }

  update(nodeId: string, value: number, max: number): void {
    const entry = this.nodes.get(nodeId) ?? { value: 0, max: 1, state: "running" as NodeState };
    Object.assign(entry, { value, max, state: "running" });
    this.nodes.set(nodeId, entry);
    this.emit();
  }

  /** Also called for cached nodes, which never start. */
  finish(nodeId: string): void {
    const entry = this.nodes.get(nodeId) ?? { value: 0, max: 1, state: "finished" as NodeState };
    Object.assign(entry, { value: entry.max, state: "finished" });
    this.nodes.set(nodeId, entry);
    this.emit();
  }

  private emit(): void {
    const nodes: Record<string, unknown> = {};
    for (const [id, n] of this.nodes) {
      nodes[id] = {
        ...n,
        node_id: id,
        prompt_id: this.promptId,
        display_node_id: id,
        parent_node_id: null,
        real_node_id: id,
      };
    }
    this.send({ prompt_id: this.promptId, nodes });
  }
}
