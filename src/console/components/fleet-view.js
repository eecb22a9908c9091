// The fleet: one card per host. Host state has no event on /api/ws (it comes from the server's own polls of
// each host), so /api/backends is re-read every few seconds; what each host runs comes live from the events.
import { useCallback, useEffect, useState } from "preact/hooks";
import { api } from "../lib/api-client.js";
import { html } from "../lib/html.js";
import { useLiveJobs } from "../lib/live-jobs.js";
import { HostCard } from "./host-card.js";

const REFRESH_MS = 2000;

export function FleetView() {
  const live = useLiveJobs();
  const [backends, setBackends] = useState(null);
  const [error, setError] = useState(null);

  const load = useCallback(async () => {
    try {
      setBackends((await api.backends()).backends);
      setError(null);
    } catch (err) {
      setError(err.message);
    }
  }, []);
  useEffect(() => {
    void load();
    // A hidden tab has no one to show the fleet to.
    const timer = setInterval(() => document.hidden || load(), REFRESH_MS);
    return () => clearInterval(timer);
  }, [load]);

  const onChanged = (updated) => {
    setBackends((list) => list.map((b) => (b.id === updated.id ? updated : b)));
  };

  if (!backends) return html`<p class="muted">${error ?? "Loading hosts…"}</p>`;
  const active = live.active();
  const byHost = (id) =>
    active.filter((j) => j.backend_id === id && (j.status === "running" || j.status === "dispatching"));
  const queued = active.filter((j) => j.status === "queued" || j.status === "retrying").length;
  const online = backends.filter((b) => b.status !== "offline").length;
  return html`<section class="fleet">
    <div class="page-head">
      <h2>Fleet</h2>
      <span class="muted">${online} of ${backends.length} hosts reachable · ${queued} jobs waiting for a host</span>
    </div>
    ${error ? html`<div class="error-text">${error}</div>` : null}
    ${backends.length === 0 ? html`<p class="muted">No hosts configured (config.yaml, <code>backends</code>).</p>` : null}
    <div class="cards">
      ${backends.map((b) => html`<${HostCard} key=${b.id} backend=${b} jobs=${byHost(b.id)} onChanged=${onChanged} />`)}
    </div>
  </section>`;
}
