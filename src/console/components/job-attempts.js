// Each attempt of a job: the host it ran on, when, and how it ended.
import { between, clock, seconds } from "../lib/format.js";
import { html } from "../lib/html.js";

export function JobAttempts({ attempts }) {
  if (!attempts?.length) return html`<p class="muted">Not sent to a host yet.</p>`;
  return html`<table class="attempts">
    <thead><tr><th>#</th><th>host</th><th>started</th><th>took</th><th>result</th></tr></thead>
    <tbody>
      ${attempts.map(
        (a) => html`<tr key=${a.attempt} data-attempt=${a.attempt}>
          <td>${a.attempt}</td>
          <td>${a.backend_id}</td>
          <td>${clock(a.started_at)}</td>
          <td>${seconds(between(a.started_at, a.ended_at))}</td>
          <td>${a.error ? html`<span class="error-text"><b class="mono">${a.error.code}</b> ${a.error.message}</span>` : a.ended_at ? "ok" : "running"}</td>
        </tr>`,
      )}
    </tbody>
  </table>`;
}
