// ComfyUI's default ("classic") output cache, comfy_execution/caching.py: a node's key is its class, its
// IS_CHANGED value, its literal inputs and, recursively, the keys of the nodes it links to — not its id. Before
// each prompt every entry the new prompt cannot use is dropped, so only what the last prompts share survives.
import { createHash } from "node:crypto";
import type { Graph, NodeDef, NodeEnv } from "./node-types.js";

export interface CachedNode {
  outputs: unknown[];
  /** The node's UI output, replayed in `executed` and kept in history when the node is cached. */
  ui: Record<string, unknown[]> | undefined;
}

export class ExecutionCache {
  private entries = new Map<string, CachedNode>();

  /** The keys of every node of `prompt` (memoised per prompt); drops the entries none of them uses. */
  prepare(prompt: Graph, registry: Map<string, NodeDef>, env: NodeEnv): Map<string, string> {
    const keys = new Map<string, string>();
    const keyOf = (id: string, trail: Set<string>): string => {
      const known = keys.get(id);
      if (known) return known;
      const node = prompt[id];
      // A link to a missing node, or a cycle, is never cacheable (caching.py answers NaN).
      if (!node || trail.has(id)) return `nan:${Math.random()}`;
      trail.add(id);
      const def = registry.get(node.class_type);
      const parts: unknown[] = [node.class_type, def?.isChanged?.(node.inputs ?? {}, env) ?? null];
      // Nodes that take their own id as a hidden input are cached per id (include_unique_id_in_input).
      if (Object.values(def?.inputTypes(env).hidden ?? {}).includes("UNIQUE_ID")) parts.push(id);
      for (const name of Object.keys(node.inputs ?? {}).sort()) {
        const v = node.inputs[name];
        if (Array.isArray(v) && v.length === 2 && typeof v[0] === "string")
          parts.push([name, "ANCESTOR", keyOf(v[0], trail), v[1]]);
        else parts.push([name, v]);
      }
      trail.delete(id);
      const key = createHash("sha1").update(JSON.stringify(parts)).digest("hex");
      keys.set(id, key);
      return key;
    };
    for (const id of Object.keys(prompt)) keyOf(id, new Set());
    const used = new Set(keys.values());
    for (const k of [...this.entries.keys()]) if (!used.has(k)) this.entries.delete(k);
    return keys;
  }

  get(key: string | undefined): CachedNode | undefined {
    return key === undefined ? undefined : this.entries.get(key);
  }

  set(key: string | undefined, value: CachedNode): void {
    if (key !== undefined) this.entries.set(key, value);
  }

  /** POST /free {"free_memory": true}: the next prompt starts from nothing (PromptExecutor.reset). */
  clear(): void {
    this.entries.clear();
  }
}
