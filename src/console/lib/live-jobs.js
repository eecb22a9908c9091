// What the console knows live about jobs: the snapshots and events /api/ws sends, folded into job objects
// shaped like GET /api/job/:id, and the newest preview of each running job. Views subscribe to changes.

import { useEffect, useState } from "preact/hooks";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
/** Finished jobs kept beyond what is on screen; active ones are always kept. */
const MAX_FINISHED = 500;

export const isTerminal = (status) => TERMINAL.has(status);

/** A project: several workflow nodes in one job (a one-workflow job may list itself as its one node). */
export const isProject = (job) =>
  Array.isArray(job?.nodes) && (job.nodes.length > 1 || (job.workflow_id == null && job.nodes.length > 0));

const NODE_STATUS = { dispatched: "dispatching" };

/** `job.node.<kind>` (a project's node run, named by `project_node` and `variant`) applied to `nodes`. */
function applyNodeEvent(j, e) {
  const kind = e.type.slice("job.node.".length);
  if (!Array.isArray(j.nodes)) return j;
  const at = j.nodes.findIndex((n) => n.id === e.project_node && (n.variant ?? null) === (e.variant ?? null));
  if (at < 0) return j;
  const n = { ...j.nodes[at] };
  if (kind === "progress")
    n.progress = { value: e.value, max: e.max, node_title: e.node_title, percent: e.percent };
  else if (kind === "output") {
    if (e.url && !(n.outputs ?? []).some((o) => o.filename === e.filename))
      n.outputs = [
        ...(n.outputs ?? []),
        { filename: e.filename, url: e.url, content_type: e.content_type, size: e.size },
      ];
  } else {
    n.status = NODE_STATUS[kind] ?? kind;
    if (e.backend_id) n.backend_id = e.backend_id;
    if (e.error) n.error = e.error;
  }
  const nodes = [...j.nodes];
  nodes[at] = n;
  return { ...j, nodes };
}

/** The job after one event; `job` may be undefined for a job first heard of by this event. */
export function applyEvent(job, e) {
  if (e.type === "job.snapshot") return e.job;
  if (e.type.startsWith("job.node.")) return job ? applyNodeEvent({ ...job, updated_at: e.ts }, e) : job;
  const j = job
    ? { ...job }
    : { job_id: e.job_id, status: "queued", outputs: [], progress: null, created_at: e.ts, error: null };
  j.updated_at = e.ts;
  switch (e.type) {
    case "job.queued":
      j.status = "queued";
      if (e.workflow_id) j.workflow_id = e.workflow_id;
      if (e.priority !== undefined) j.priority = e.priority;
      break;
    case "job.dispatched":
      j.status = "dispatching";
      j.backend_id = e.backend_id;
      j.attempt = e.attempt;
      break;
    case "job.running":
      j.status = "running";
      j.backend_id = e.backend_id;
      j.attempt = e.attempt;
      j.started_at ??= e.ts;
      break;
    case "job.progress":
      j.progress = {
        value: e.value,
        max: e.max,
        node_id: e.node_id,
        node_title: e.node_title,
        percent: e.percent,
      };
      break;
    case "job.output":
      if (!j.outputs.some((o) => o.filename === e.filename)) {
        const { filename, url, node_id, kind, content_type, size } = e;
        j.outputs = [...j.outputs, { filename, url, node_id, kind, content_type, size }];
      }
      break;
    case "job.retrying":
      j.status = "retrying";
      j.error = e.error ?? null;
      break;
    case "job.completed":
      j.status = "completed";
      j.progress = e.progress ?? j.progress;
      j.error = null;
      j.finished_at = e.ts;
      break;
    case "job.failed":
      j.status = "failed";
      j.error = e.error ?? null;
      j.finished_at = e.ts;
      break;
    case "job.cancelled":
      j.status = "cancelled";
      j.finished_at = e.ts;
      break;
    default:
      // Event types this console does not know yet only touch updated_at.
      break;
  }
  return j;
}

class LiveJobs {
  jobs = new Map();
  previews = new Map();
  listeners = new Set();
  eventListeners = new Set();
  version = 0;

  get(id) {
    return this.jobs.get(id);
  }

  active() {
    return [...this.jobs.values()].filter((j) => !isTerminal(j.status));
  }

  /** Seeds or refreshes a job from a GET answer (which carries attempts the events do not). */
  put(job) {
    this.jobs.set(job.job_id, job);
    this.changed();
  }

  onEvent(e) {
    this.jobs.set(e.job_id, applyEvent(this.jobs.get(e.job_id), e));
    if (isTerminal(this.jobs.get(e.job_id).status)) this.dropPreview(e.job_id);
    for (const l of this.eventListeners) l(e);
    this.prune();
    this.changed();
  }

  onPreview(jobId, blob) {
    const old = this.previews.get(jobId);
    this.previews.set(jobId, URL.createObjectURL(blob));
    if (old) URL.revokeObjectURL(old);
    this.changed();
  }

  /** Every event as it arrives, for views that keep their own rows (the jobs table, one job page). */
  listen(fn) {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  subscribe(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  dropPreview(jobId) {
    const url = this.previews.get(jobId);
    if (url) URL.revokeObjectURL(url);
    this.previews.delete(jobId);
  }

  prune() {
    if (this.jobs.size <= MAX_FINISHED * 2) return;
    let finished = [...this.jobs.values()].filter((j) => isTerminal(j.status)).length;
    for (const [id, j] of this.jobs) {
      if (finished <= MAX_FINISHED) break;
      if (!isTerminal(j.status)) continue;
      this.jobs.delete(id);
      finished--;
    }
  }

  // Many events can arrive in one task (a burst of progress); views re-render once per frame at most.
  changed() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.version++;
      for (const l of this.listeners) l(this.version);
    });
  }
}

export const liveJobs = new LiveJobs();

/** Re-renders the calling component whenever the live state changes. */
export function useLiveJobs() {
  const [, setVersion] = useState(liveJobs.version);
  useEffect(() => liveJobs.subscribe(setVersion), []);
  return liveJobs;
}
