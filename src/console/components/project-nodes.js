// A project's nodes as a small graph: one column per depth (a node sits right of everything it takes
// input from), each node with its state, host, progress, error and outputs.
import { html } from "../lib/html.js";
import { JobError } from "./job-error.js";
import { OutputGallery } from "./output-gallery.js";
import { ProgressBar } from "./progress-bar.js";
import { StatusBadge } from "./status-badge.js";

/** Upstream node ids: named by the API (`depends_on`) or found in `{"from": id}` parameter links. */
function upstream(node) {
  if (Array.isArray(node.depends_on)) return node.depends_on;
  const links = Object.values(node.parameters ?? {}).filter((v) => v && typeof v === "object" && v.from);
  return [...new Set(links.map((v) => v.from))];
}

function columns(nodes) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const depth = new Map();
  const depthOf = (n, seen = new Set()) => {
    if (depth.has(n.id)) return depth.get(n.id);
    if (seen.has(n.id)) return 0;
    seen.add(n.id);
    const ups = upstream(n)
      .map((id) => byId.get(id))
      .filter(Boolean);
    const d = ups.length ? 1 + Math.max(...ups.map((u) => depthOf(u, seen))) : 0;
    depth.set(n.id, d);
    return d;
  };
  const cols = [];
  for (const n of nodes) {
    const d = depthOf(n);
    cols[d] = [...(cols[d] ?? []), n];
  }
  return cols.filter(Boolean);
}

/** A node with `count` runs once per variant: "shot2 #1". */
export const runName = (n) =>
  n.variant === null || n.variant === undefined ? n.id : `${n.id} #${n.variant}`;
const runKey = (n) => `${n.id}#${n.variant ?? ""}`;

function NodeBox({ node }) {
  const ups = upstream(node);
  const percent = node.status === "completed" ? 100 : (node.progress?.percent ?? 0);
  const attempt = typeof node.attempts === "number" && node.attempts > 1 ? ` · attempt ${node.attempts}` : "";
  return html`<div class=${`node-box node-${node.status}`} data-node=${node.id} data-status=${node.status}>
    <div class="node-head"><b>${runName(node)}</b> <${StatusBadge} status=${node.status} /></div>
    <div class="muted">${node.workflow_id}${node.backend_id ? ` · ${node.backend_id}` : ""}${attempt}</div>
    ${ups.length ? html`<div class="muted">from ${ups.join(", ")}</div>` : null}
    <${ProgressBar} percent=${percent} tone=${node.status === "failed" ? "fail" : "run"} />
    <${JobError} error=${node.error} />
    ${node.outputs?.length ? html`<${OutputGallery} outputs=${node.outputs} />` : null}
  </div>`;
}

export function ProjectNodes({ nodes }) {
  return html`<div class="project-graph">
    ${columns(nodes).map(
      (col, i) =>
        html`<div class="node-column" key=${i}>${col.map((n) => html`<${NodeBox} key=${runKey(n)} node=${n} />`)}</div>`,
    )}
  </div>`;
}
