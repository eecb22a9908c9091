// One ComfyUI host: its state and device, what it runs now (progress and live preview), its queue, VRAM,
// counters, and the Drain / Enable / Disable controls.
import { useState } from "preact/hooks";
import { api } from "../lib/api-client.js";
import { bytes, seconds, shortId } from "../lib/format.js";
import { html } from "../lib/html.js";
import { href } from "../lib/router.js";
import { LivePreview } from "./live-preview.js";
import { ProgressBar } from "./progress-bar.js";
import { StatusBadge } from "./status-badge.js";

function deviceLabel(b) {
  if (!b.device_type) return b.vram_total ? "GPU" : "device unknown";
  return b.device_type === "cpu" ? "CPU" : `GPU (${b.device_type})`;
}

function VramBar({ total, free, b }) {
  if (b.device_type === "cpu")
    return html`<div class="muted vram">no GPU${b.ram_total ? ` · RAM ${bytes(b.ram_total)}` : ""}</div>`;
  if (!total) return html`<div class="muted">VRAM —</div>`;
  const used = total - (free ?? 0);
  const pct = (used / total) * 100;
  return html`<div class="vram">
    <span class="label">VRAM</span>
    <${ProgressBar} percent=${pct} tone=${pct > 90 ? "warn" : "vram"} label=${`${bytes(used)} / ${bytes(total)}`} />
  </div>`;
}

function CurrentJob({ jobs }) {
  if (jobs.length === 0) return html`<div class="current idle muted">idle</div>`;
  const running = jobs.find((j) => j.status === "running") ?? jobs[0];
  const p = running.progress;
  const label = p?.node_title ? `${p.node_title} · ${Math.round(p.percent)} %` : running.status;
  return html`<div class="current">
    <div class="current-head">
      <a href=${href("job", running.job_id)} class="mono">${shortId(running.job_id)}</a>
      <span>${running.workflow_id ?? ""}</span>
      ${jobs.length > 1 ? html`<span class="muted">+${jobs.length - 1} waiting on host</span>` : null}
    </div>
    <${ProgressBar} percent=${p?.percent ?? 0} label=${label} />
    <${LivePreview} jobId=${running.job_id} />
  </div>`;
}

/** `jobs`: what the events say runs on this host now, which is fresher than the host's last poll. */
export function HostCard({ backend: b, jobs, onChanged }) {
  const [busy, setBusy] = useState(null);
  const [error, setError] = useState(null);
  const act = async (action) => {
    setBusy(action);
    setError(null);
    try {
      onChanged(await api.backendAction(b.id, action));
    } catch (err) {
      setError(err.message);
    } finally {
      setBusy(null);
    }
  };
  const draining = b.state === "draining" || b.state === "drained";
  return html`<article class=${`card host host-${b.state}`} data-host=${b.id}>
    <header class="host-head">
      <div>
        <h3>${b.name}</h3>
        <div class="muted mono">${b.host}:${b.port}</div>
      </div>
      <div class="host-state">
        <${StatusBadge} status=${b.state} />
        <span class="device" title=${b.device_name ?? ""}>${deviceLabel(b)}</span>
      </div>
    </header>
    ${b.reason && b.reason !== b.state ? html`<div class="reason">${b.reason}</div>` : null}
    <${CurrentJob} jobs=${jobs} />
    ${
      b.interrupting?.length
        ? html`<div class="reason">stopping ${b.interrupting.length} cancelled prompt(s)${b.interrupting.some((i) => i.overdue) ? " (overdue)" : ""}</div>`
        : null
    }
    <dl class="stats">
      <div><dt title="our prompts on the host / most at once">our queue</dt><dd data-stat="ours">${Math.max(b.inflight, jobs.length)} / ${b.max_inflight}</dd></div>
      <div><dt title="prompts of other ComfyUI clients">foreign</dt><dd data-stat="foreign">${b.foreign_queued}</dd></div>
      <div><dt>done</dt><dd data-stat="done">${b.jobs_completed}</dd></div>
      <div><dt>failed</dt><dd data-stat="failed">${b.jobs_failed}</dd></div>
      <div><dt>avg time</dt><dd>${seconds(b.avg_job_s)}</dd></div>
    </dl>
    <${VramBar} total=${b.vram_total} free=${b.vram_free} b=${b} />
    ${
      b.warm_models?.length
        ? html`<div class="muted warm" title=${b.warm_models.join("\n")}>warm: ${b.warm_models.slice(0, 2).join(", ")}${b.warm_models.length > 2 ? ` +${b.warm_models.length - 2}` : ""}</div>`
        : null
    }
    <footer class="actions">
      <button onClick=${() => act("drain")} disabled=${busy || draining || !b.enabled}>Drain</button>
      <button onClick=${() => act("enable")} disabled=${busy || (b.enabled && !draining)}>Enable</button>
      <button onClick=${() => act("disable")} disabled=${busy || !b.enabled} class="danger">Disable</button>
    </footer>
    ${error ? html`<div class="error-text">${error}</div>` : null}
  </article>`;
}
