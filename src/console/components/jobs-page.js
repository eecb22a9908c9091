// The jobs list: filters by status and workflow, pages through GET /api/jobs (50 rows at a time, so a long
// history stays fast), and keeps the rows on screen live from /api/ws events; new jobs appear on page one.
import { useEffect, useState } from "preact/hooks";
import { api } from "../lib/api-client.js";
import { html } from "../lib/html.js";
import { applyEvent, liveJobs } from "../lib/live-jobs.js";
import { navigate } from "../lib/router.js";
import { JobsTable } from "./jobs-table.js";

const PAGE_SIZE = 50;
const STATUS_FILTERS = {
  "": "any status",
  "queued,dispatching,running,retrying": "active",
  queued: "queued",
  running: "running",
  retrying: "retrying",
  completed: "completed",
  failed: "failed",
  cancelled: "cancelled",
};

function matches(filters, job) {
  if (filters.workflow && job.workflow_id !== filters.workflow) return false;
  return !filters.status || filters.status.split(",").includes(job.status);
}

/** Mounted with a key per filter, so a change of filter starts again at page one. */
export function JobsPage({ query }) {
  const filters = { status: query.status ?? "", workflow: query.workflow ?? "" };
  const [workflows, setWorkflows] = useState([]);
  // cursors[i] is the cursor that loads page i (page 0 needs none).
  const [cursors, setCursors] = useState([undefined]);
  const [page, setPage] = useState({ jobs: null, next_cursor: null });
  const [error, setError] = useState(null);
  const pageNo = cursors.length - 1;

  useEffect(() => {
    api.workflows().then(
      (r) => setWorkflows(r.workflows.map((w) => w.id)),
      () => setWorkflows([]),
    );
  }, []);

  useEffect(() => {
    const ctrl = new AbortController();
    const q = { limit: String(PAGE_SIZE) };
    if (filters.status) q.status = filters.status;
    if (filters.workflow) q.workflow_id = filters.workflow;
    const cursor = cursors[cursors.length - 1];
    if (cursor) q.cursor = cursor;
    api.jobs(q).then(
      (r) => {
        if (ctrl.signal.aborted) return;
        setPage(r);
        setError(null);
      },
      (err) => !ctrl.signal.aborted && setError(err.message),
    );
    return () => ctrl.abort();
  }, [cursors, filters.status, filters.workflow]);

  // Functional updates: several events can arrive before the next render.
  useEffect(
    () =>
      liveJobs.listen((e) =>
        setPage((p) => {
          const list = p.jobs ?? [];
          const i = list.findIndex((j) => j.job_id === e.job_id);
          if (i >= 0) {
            const jobs = [...list];
            jobs[i] = applyEvent(list[i], e);
            return { ...p, jobs };
          }
          // A new job on page one (a retry going back to the queue carries its attempt and is not new).
          if (e.type !== "job.queued" || e.attempt !== undefined || pageNo !== 0 || !p.jobs) return p;
          const job = applyEvent(undefined, e);
          return matches(filters, job) ? { ...p, jobs: [job, ...list].slice(0, PAGE_SIZE) } : p;
        }),
      ),
    [pageNo, filters.status, filters.workflow],
  );

  const setFilter = (key, value) => navigate("jobs", null, { ...filters, [key]: value });
  return html`<section class="jobs-page">
    <div class="page-head">
      <h2>Jobs</h2>
      <label>status
        <select name="status" value=${filters.status} onChange=${(e) => setFilter("status", e.currentTarget.value)}>
          ${Object.entries(STATUS_FILTERS).map(([v, label]) => html`<option value=${v}>${label}</option>`)}
        </select>
      </label>
      <label>workflow
        <select name="workflow" value=${filters.workflow} onChange=${(e) => setFilter("workflow", e.currentTarget.value)}>
          <option value="">any workflow</option>
          ${workflows.map((w) => html`<option value=${w}>${w}</option>`)}
        </select>
      </label>
    </div>
    ${error ? html`<div class="error-text">${error}</div>` : null}
    ${page.jobs ? html`<${JobsTable} jobs=${page.jobs} />` : html`<p class="muted">Loading jobs…</p>`}
    <nav class="pager">
      <button disabled=${pageNo === 0} onClick=${() => setCursors((c) => c.slice(0, -1))}>← Newer</button>
      <span class="muted">page ${pageNo + 1}</span>
      <button disabled=${!page.next_cursor} onClick=${() => setCursors((c) => [...c, page.next_cursor])}>Older →</button>
    </nav>
  </section>`;
}
