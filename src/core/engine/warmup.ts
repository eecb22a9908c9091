// Optional backends[].warmup: a workflow run once each time a host comes online (at start, after it was
// offline, when it joins the fleet), so its first real job finds the models loaded. It is no job: no row,
// no job events, no job metrics. The host takes no work until it ends; a failure is logged and shown on
// the host (GET /api/backends), and the host then takes work anyway.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { BackendMonitor, BackendState } from "../../backends/monitor.js";
import type { WorkflowStorage } from "../storage/workflow-storage.js";
import { patchGraph } from "./graph-patch.js";
import { resolveParameters } from "./parameters.js";
import type { Scheduler } from "./scheduler.js";

export interface WarmupStatus {
  status: "running" | "completed" | "failed";
  workflow_id: string;
  started_at: string;
  finished_at: string | null;
  error: string | null;
  /** How many times this host was warmed up since we started. */
  runs: number;
}

const POLL_MS = 250;

export class Warmups {
  private readonly status = new Map<string, WarmupStatus>();
  /** Hosts whose next arrival online should warm them up: every host at first, and any that went offline. */
  private readonly due = new Set<string>();
  private readonly abort = new AbortController();

  constructor(
    private readonly workflows: WorkflowStorage,
    private readonly scheduler: Scheduler,
    private readonly opts: { instanceId: string; onResult?: (backendId: string, ok: boolean) => void },
    private readonly log: Logger,
  ) {}

  /** Follows a host that just joined (its monitor has started). */
  watch(m: BackendMonitor): void {
    if (!m.config.warmup) return;
    this.due.add(m.id);
    const onState = (state: BackendState) => {
      if (state === "offline") this.due.add(m.id);
      else if (state === "online") this.driven(m);
    };
    m.on("state", onState);
    if (m.snapshot.state === "online") onState("online");
  }

  /**
   * Warms up a host that is due, once it is online and this replica drives it (always, on SQLite). With
   * replicas, `previous` is the warm-up its last driver reported while the host was online: a finished one
   * still holds, so taking the host over does not warm it again.
   */
  driven(m: BackendMonitor, previous: WarmupStatus | null = null): void {
    if (!this.due.has(m.id) || !this.scheduler.drives(m.id)) return;
    if (previous && previous.status !== "running") {
      // Our own view of the host may not have settled yet; going offline later makes it due again.
      this.due.delete(m.id);
      this.status.set(m.id, { ...previous });
      return;
    }
    if (m.snapshot.state !== "online") return;
    this.due.delete(m.id);
    void this.run(m);
  }

  forget(id: string): void {
    this.status.delete(id);
    this.due.delete(id);
  }

  statusOf(id: string): WarmupStatus | null {
    return this.status.get(id) ?? null;
  }

  stop(): void {
    this.abort.abort();
  }

  private async run(m: BackendMonitor): Promise<void> {
    const w = m.config.warmup;
    if (!w || this.status.get(m.id)?.status === "running") return;
    const s: WarmupStatus = {
      status: "running",
      workflow_id: w.workflow_id,
      started_at: new Date().toISOString(),
      finished_at: null,
      error: null,
      runs: (this.status.get(m.id)?.runs ?? 0) + 1,
    };
    this.status.set(m.id, s);
    this.scheduler.setWarming(m.id, true);
    const log = this.log.child({ backend_id: m.id, workflow_id: w.workflow_id });
    log.info("backend warm-up started");
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(w.timeout_s * 1000)]);
    try {
      const wf = this.workflows.get(w.workflow_id);
      const promptId = randomUUID();
      const graph = patchGraph(wf, resolveParameters(wf, w.parameters), `warmup-${promptId}`);
      // Not tagged as ours: to the orphan reaper and the queue counts it is another client's prompt.
      await m.client.queuePrompt(
        graph,
        {
          clientId: m.clientId,
          promptId,
          extraData: { orchestrator_warmup: { instance: this.opts.instanceId, backend_id: m.id } },
        },
        signal,
      );
      const entry = await this.waitForHistory(m, promptId, signal);
      const failed = entry.status?.status_str === "error";
      if (failed) {
        const msg = entry.status?.messages.find(([kind]) => kind === "execution_error")?.[1] as
          | { exception_message?: string; node_type?: string }
          | undefined;
        throw new Error(
          `the workflow failed on the host${msg?.node_type ? ` in ${msg.node_type}` : ""}: ${msg?.exception_message ?? "execution error"}`,
        );
      }
      s.status = "completed";
      log.info({ seconds: secondsSince(s.started_at) }, "backend warm-up completed");
      this.opts.onResult?.(m.id, true);
    } catch (err) {
      if (this.abort.signal.aborted) return;
      s.status = "failed";
      s.error = signal.aborted ? `no result within ${w.timeout_s} s` : (err as Error).message;
      log.warn({ error: s.error }, "backend warm-up failed; the host takes work anyway");
      this.opts.onResult?.(m.id, false);
    } finally {
      s.finished_at = new Date().toISOString();
      this.scheduler.setWarming(m.id, false);
    }
  }

  /** /history is the truth for a prompt's end; polled, bounded by the warm-up's signal. */
  private async waitForHistory(m: BackendMonitor, promptId: string, signal: AbortSignal) {
    for (;;) {
      signal.throwIfAborted();
      const entry = await m.client.history(promptId, signal);
      if (entry) return entry;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, POLL_MS);
        signal.addEventListener("abort", () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
}

const secondsSince = (iso: string) => Number(((Date.now() - Date.parse(iso)) / 1000).toFixed(3));
