// A job's or a host's state as a coloured label.
import { html } from "../lib/html.js";

export function StatusBadge({ status }) {
  return html`<span class=${`badge badge-${status}`} data-status=${status}>${status}</span>`;
}
