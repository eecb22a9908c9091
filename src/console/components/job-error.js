// A failed job's error: its stable code, ComfyUI's message, and the details (node, attempts…) folded.
import { html } from "../lib/html.js";

export function JobError({ error }) {
  if (!error) return null;
  const hasDetails = error.details && Object.keys(error.details).length > 0;
  return html`<div class="job-error" role="alert">
    <strong class="mono">${error.code}</strong> <span class="error-message">${error.message}</span>
    ${hasDetails ? html`<details><summary>details</summary><pre>${JSON.stringify(error.details, null, 2)}</pre></details>` : null}
  </div>`;
}
