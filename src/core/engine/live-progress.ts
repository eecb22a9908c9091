// Progress of running jobs. One commit per sampler step would cost more than the step on a fast host, so
// the latest value lives in memory, is persisted a few times a second, and readers get it from here.
import { isTerminal, type Job, type JobProgress } from "../models.js";
import type { JobStore } from "../storage/job-store.js";
import { projectPercent } from "./project-graph.js";

const WRITE_EVERY_MS = 500;
/** What a finished job shows, so a client's bar ends at exactly 100. */
export const FINAL_PROGRESS = { value: 1, max: 1, node_id: null, node_title: null, percent: 100 };

export class LiveProgress {
  private readonly latest = new Map<string, { progress: JobProgress; written: number }>();

  constructor(
    private readonly store: JobStore,
    /** True when a failed write was the database's fault (locked, full): progress then stays in memory. */
    private readonly storageFailed: (err: unknown) => boolean = () => false,
  ) {}

  record(jobId: string, progress: JobProgress): void {
    const last = this.latest.get(jobId);
    const now = Date.now();
    if (!last || now - last.written >= WRITE_EVERY_MS) {
      try {
        this.store.setProgress(jobId, progress);
      } catch (err) {
        if (!this.storageFailed(err)) throw err;
        this.latest.set(jobId, { progress, written: last?.written ?? 0 });
        return;
      }
      this.latest.set(jobId, { progress, written: now });
    } else this.latest.set(jobId, { progress, written: last.written });
  }

  /** The job with its newest progress, which the database may not have yet; a project's is its runs' mean. */
  overlay(job: Job): Job {
    if (job.nodes) {
      const nodes = job.nodes.map((n) => this.overlay(n));
      if (isTerminal(job.status)) return { ...job, nodes };
      const percent = projectPercent(nodes, () => undefined);
      return {
        ...job,
        nodes,
        progress: { value: percent, max: 100, node_id: null, node_title: null, percent },
      };
    }
    const live = job.status === "running" ? this.latest.get(job.id) : undefined;
    return live ? { ...job, progress: live.progress } : job;
  }

  forget(jobId: string): void {
    this.latest.delete(jobId);
  }
}
