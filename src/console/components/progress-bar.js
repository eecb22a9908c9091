// A horizontal bar from 0 to 100 %, with an optional label inside.
import { html } from "../lib/html.js";

export function ProgressBar({ percent, label, tone = "run" }) {
  const p = Math.max(0, Math.min(100, Number(percent) || 0));
  return html`<div class=${`bar bar-${tone}`} role="progressbar" aria-valuenow=${Math.round(p)} aria-valuemin="0" aria-valuemax="100">
    <div class="bar-fill" style=${{ width: `${p}%` }}></div>
    <span class="bar-label">${label ?? `${p.toFixed(0)} %`}</span>
  </div>`;
}
