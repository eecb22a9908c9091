// One page of jobs as a table: status, workflow, host, progress, age, owner; a project lists its nodes.
import { age, shortId } from "../lib/format.js";
import { html } from "../lib/html.js";
import { isProject } from "../lib/live-jobs.js";
import { href } from "../lib/router.js";
import { useTick } from "../lib/use-tick.js";
import { NodeChips } from "./node-chips.js";
import { ProgressBar } from "./progress-bar.js";
import { StatusBadge } from "./status-badge.js";

function progressOf(j) {
  if (j.status === "completed") return 100;
  return j.progress?.percent ?? 0;
}

export function JobsTable({ jobs }) {
  const now = useTick(5000);
  const withOwner = jobs.some((j) => j.owner);
  if (jobs.length === 0) return html`<p class="muted empty">No jobs match.</p>`;
  return html`<table class="jobs">
    <thead>
      <tr>
        <th>job</th><th>status</th><th>workflow</th><th>host</th><th class="wide">progress</th><th>age</th>
        ${withOwner ? html`<th>owner</th>` : null}
      </tr>
    </thead>
    <tbody>
      ${jobs.map(
        (j) => html`<tr key=${j.job_id} data-job=${j.job_id} data-status=${j.status}>
          <td><a class="mono" href=${href("job", j.job_id)}>${shortId(j.job_id)}</a></td>
          <td><${StatusBadge} status=${j.status} /></td>
          <td>
            ${j.workflow_id ?? (isProject(j) ? "project" : "—")}
            ${isProject(j) ? html`<div><${NodeChips} nodes=${j.nodes} /></div>` : null}
          </td>
          <td>${j.backend_id ?? "—"}</td>
          <td class="wide">
            <${ProgressBar} percent=${progressOf(j)} tone=${j.status === "failed" ? "fail" : "run"}
              label=${j.status === "running" && j.progress?.node_title ? j.progress.node_title : undefined} />
          </td>
          <td title=${j.created_at}>${age(j.created_at, now)}</td>
          ${withOwner ? html`<td>${j.owner ?? "—"}</td>` : null}
        </tr>`,
      )}
    </tbody>
  </table>`;
}
