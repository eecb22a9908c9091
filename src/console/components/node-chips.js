// A project's nodes in one line: each node's id coloured by its state (the jobs table's compact view).
import { html } from "../lib/html.js";
import { runName } from "./project-nodes.js";

export function NodeChips({ nodes }) {
  if (!Array.isArray(nodes) || nodes.length === 0) return null;
  return html`<span class="node-chips">
    ${nodes.map(
      (n) =>
        html`<span key=${runName(n)} class=${`chip badge-${n.status}`} title=${`${runName(n)}: ${n.workflow_id} · ${n.status}`}>${runName(n)}</span>`,
    )}
  </span>`;
}
