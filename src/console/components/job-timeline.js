// A job's life as steps: queued → dispatched → running → its end, each with the time it was reached.
import { clock } from "../lib/format.js";
import { html } from "../lib/html.js";

function steps(job) {
  const first = job.attempts?.[0];
  const end = ["completed", "failed", "cancelled"].includes(job.status) ? job.status : "completed";
  const reached = {
    queued: true,
    // A project is dispatched node by node: it counts once it has started.
    dispatched: Boolean(
      first || job.backend_id || job.started_at || ["dispatching", "running"].includes(job.status),
    ),
    running: Boolean(job.started_at || job.status === "running"),
    [end]: job.status === end,
  };
  return [
    { name: "queued", at: job.created_at, reached: reached.queued },
    { name: "dispatched", at: first?.started_at ?? job.started_at, reached: reached.dispatched },
    { name: "running", at: job.started_at, reached: reached.running },
    { name: end, at: job.finished_at, reached: reached[end] },
  ];
}

export function JobTimeline({ job }) {
  return html`<ol class="timeline">
    ${steps(job).map(
      (s) => html`<li key=${s.name} class=${`step ${s.reached ? "reached" : ""} step-${s.name}`}>
        <span class="dot"></span><span class="step-name">${s.name}</span>
        <span class="muted">${s.reached ? clock(s.at) : ""}</span>
      </li>`,
    )}
  </ol>`;
}
