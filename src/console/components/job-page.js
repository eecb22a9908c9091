// One job: status and timeline, progress with the current node's title, the live preview while it runs,
// attempts (host, error), outputs as a gallery, Cancel; a project's nodes as a small graph. The first read
// is GET /api/job/:id; after that the job's events keep it current, and each change of state re-reads it
// once (for the attempts list, which events do not carry). While the job has not ended it is also re-read
// every few seconds, so a socket that stalls or is slow to reconnect never leaves the page behind.
import { useEffect, useRef, useState } from "preact/hooks";
import { api } from "../lib/api-client.js";
import { between, seconds } from "../lib/format.js";
import { html } from "../lib/html.js";
import { applyEvent, isProject, isTerminal, liveJobs } from "../lib/live-jobs.js";
import { JobAttempts } from "./job-attempts.js";
import { JobError } from "./job-error.js";
import { JobTimeline } from "./job-timeline.js";
import { LivePreview } from "./live-preview.js";
import { OutputGallery } from "./output-gallery.js";
import { ProgressBar } from "./progress-bar.js";
import { ProjectNodes } from "./project-nodes.js";
import { StatusBadge } from "./status-badge.js";

/** Events that carry all they change; any other one (a change of state) re-reads the job once. */
const LIVE_ONLY = new Set(["job.progress", "job.output", "job.node.progress", "job.node.output"]);
/** How often a job not yet ended is re-read besides its events. */
const FALLBACK_MS = 5000;

function useJob(id) {
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  const reread = useRef(null);
  const ended = useRef(false);
  useEffect(() => {
    let alive = true;
    const load = () =>
      api.job(id).then(
        (j) => {
          if (!alive) return;
          ended.current = isTerminal(j.status);
          setJob(j);
          liveJobs.put(j);
        },
        (err) => alive && setError(err),
      );
    void load();
    const fallback = setInterval(() => ended.current || document.hidden || load(), FALLBACK_MS);
    const off = liveJobs.listen((e) => {
      if (e.job_id !== id) return;
      setJob((j) => (j ? { ...applyEvent(j, e), attempts: j.attempts } : j));
      if (LIVE_ONLY.has(e.type)) return;
      clearTimeout(reread.current);
      reread.current = setTimeout(load, 50);
    });
    return () => {
      alive = false;
      off();
      clearInterval(fallback);
      clearTimeout(reread.current);
    };
  }, [id]);
  return { job, error, setJob };
}

export function JobPage({ id }) {
  const { job, error, setJob } = useJob(id);
  const [cancelError, setCancelError] = useState(null);
  if (error)
    return html`<div class="job-error">${error.code === "JOB_NOT_FOUND" ? `No job ${id}.` : error.message}</div>`;
  if (!job) return html`<p class="muted">Loading job…</p>`;

  const cancel = async () => {
    setCancelError(null);
    try {
      setJob({ ...(await api.cancel(id)), attempts: job.attempts });
    } catch (err) {
      setCancelError(err.message);
    }
  };
  const p = job.progress;
  // A project's hosts and attempts are its nodes'; they are shown per node.
  const project = isProject(job);
  const running = job.status === "running";
  const took = between(job.started_at, job.finished_at);
  return html`<section class="job-page" data-job=${job.job_id} data-status=${job.status}>
    <div class="page-head">
      <h2>${job.workflow_id ?? "project"} <span class="mono muted job-id">${job.job_id}</span></h2>
      <${StatusBadge} status=${job.status} />
      ${isTerminal(job.status) ? null : html`<button class="danger" onClick=${cancel}>Cancel</button>`}
    </div>
    ${cancelError ? html`<div class="error-text">${cancelError}</div>` : null}
    <${JobTimeline} job=${job} />
    <div class="job-progress">
      <${ProgressBar}
        percent=${job.status === "completed" ? 100 : (p?.percent ?? 0)}
        tone=${job.status === "failed" ? "fail" : "run"}
        label=${running && p?.node_title ? `${p.node_title} · ${p.value}/${p.max} · ${Math.round(p.percent)} %` : undefined}
      />
      <span class="muted current-node">${running && p?.node_title ? p.node_title : ""}</span>
    </div>
    ${job.status === "queued" && job.scheduling?.reason ? html`<p class="muted waiting">waiting: ${job.scheduling.reason}</p>` : null}
    <${JobError} error=${job.error} />
    <dl class="facts">
      ${
        project
          ? html`<div><dt>nodes</dt><dd>${job.nodes.length}</dd></div>`
          : html`<div><dt>host</dt><dd>${job.backend_id ?? "—"}</dd></div>
              <div><dt>attempt</dt><dd>${job.attempt ?? 0} of ${job.max_attempts ?? "—"}</dd></div>`
      }
      <div><dt>priority</dt><dd>${job.priority ?? 0}</dd></div>
      <div><dt>ran for</dt><dd>${seconds(took)}</dd></div>
      ${job.owner ? html`<div><dt>owner</dt><dd>${job.owner}</dd></div>` : null}
    </dl>
    ${running ? html`<div class="live"><${LivePreview} jobId=${job.job_id} size="large" /></div>` : null}
    ${project ? html`<h3>Nodes</h3><${ProjectNodes} nodes=${job.nodes} />` : null}
    <h3>Outputs</h3>
    <${OutputGallery} outputs=${job.outputs} expired=${job.outputs_expired} finished=${isTerminal(job.status)} />
    ${project ? null : html`<h3>Attempts</h3><${JobAttempts} attempts=${job.attempts} />`}
    <details class="params">
      <summary>Parameters</summary>
      <pre>${JSON.stringify(job.parameters ?? {}, null, 2)}</pre>
    </details>
  </section>`;
}
