// Frees disk: a periodic sweep deletes the input and output files of jobs finished longer ago than the
// retention, and a client may free one finished job's files early. The job row stays, marked expired.
// Replicas on one database sweep one at a time (ExclusiveTask), so each job's files are deleted once.
import type { Logger } from "pino";
import { AppError } from "../../errors.js";
import { isTerminal, type Job } from "../models.js";
import type { ExclusiveTask } from "./exclusive-task.js";
import type { FileStore } from "./file-store.js";
import type { JobStore } from "./job-store.js";

export interface RetentionOptions {
  /** 0 keeps files forever. */
  outputRetentionDays: number;
  sweepIntervalS: number;
}

/** Jobs one sweep expires at most: the next sweep takes the rest, so one sweep never runs for long. */
const SWEEP_BATCH = 200;
const SWEEP_MAX_BATCHES = 50;

export class OutputRetention {
  private timer: NodeJS.Timeout | null = null;
  private sweeping: Promise<number> | null = null;
  private stopped = false;

  constructor(
    private readonly store: JobStore,
    private readonly files: FileStore,
    /** Held while sweeping: another replica's sweep meanwhile does nothing (the next one takes the rest). */
    private readonly exclusive: ExclusiveTask,
    private readonly opts: RetentionOptions,
    private readonly log: Logger,
  ) {}

  /** Sweeps now, then every interval (nothing at all when retention is 0). */
  start(): void {
    if (this.opts.outputRetentionDays <= 0) return;
    const run = () => void this.sweep().catch((err) => this.log.error({ err }, "retention sweep failed"));
    this.timer = setInterval(run, this.opts.sweepIntervalS * 1000);
    this.timer.unref();
    run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.sweeping?.catch(() => undefined);
  }

  /**
   * Expires every job finished before the cutoff; returns how many (0 while another replica sweeps).
   * Overlapping calls share one sweep.
   */
  sweep(): Promise<number> {
    this.sweeping ??= this.exclusive
      .run(() => this.sweepOnce())
      .then((n) => n ?? 0)
      .finally(() => {
        this.sweeping = null;
      });
    return this.sweeping;
  }

  /** `DELETE /api/job/:id/outputs`: frees a finished job's files now. Repeating it is harmless. */
  async freeOutputs(jobId: string): Promise<Job> {
    const job = this.store.get(jobId);
    if (!job) throw new AppError("JOB_NOT_FOUND", `Job "${jobId}" not found`, { job_id: jobId });
    if (!isTerminal(job.status)) {
      throw new AppError("JOB_NOT_FINISHED", `Job "${jobId}" is still ${job.status}; cancel it first`, {
        job_id: jobId,
        status: job.status,
      });
    }
    await this.expire(jobId);
    this.log.info({ job_id: jobId }, "job files deleted on request");
    return this.store.get(jobId) ?? job;
  }

  private async sweepOnce(): Promise<number> {
    const cutoff = new Date(Date.now() - this.opts.outputRetentionDays * 86_400_000).toISOString();
    let expired = 0;
    for (let batch = 0; batch < SWEEP_MAX_BATCHES && !this.stopped; batch++) {
      const ids = this.store.finishedBefore(cutoff, SWEEP_BATCH);
      for (const id of ids) {
        if (this.stopped) break;
        await this.expire(id);
        expired++;
      }
      if (ids.length < SWEEP_BATCH) break;
    }
    if (expired > 0) this.log.info({ jobs: expired, cutoff }, "retention sweep deleted job files");
    return expired;
  }

  /**
   * The row is marked first, so no client is handed a link to a file about to vanish; a crash before the
   * files go leaves them on disk (an operator can delete `outputs/<job_id>` of an expired job by hand).
   */
  private async expire(jobId: string): Promise<void> {
    this.store.markOutputsExpired(jobId);
    await this.files.remove("outputs", jobId);
    await this.files.remove("inputs", jobId);
    // A multi-node project's files are in its runs' folders.
    for (const run of this.store.projects.runsOf(jobId)) {
      if (run.id === jobId) continue;
      this.store.markOutputsExpired(run.id);
      await this.files.remove("outputs", run.id);
      await this.files.remove("inputs", run.id);
    }
  }
}
