// Names a run's events. A job of one run speaks as today (`job.running`, …); a run inside a multi-node
// project speaks as `job.node.running`, … on its project's job id, with `project_node` and `variant`, and
// its progress also moves the project's own `job.progress` (every run weighs the same).
import type { PreviewFrame } from "../../backends/protocol.js";
import { isTerminal, type Job, type JobOutput, type JobStatus } from "../models.js";
import type { JobEvents, JobEventType } from "./events.js";

export type RunEventKind =
  | "queued"
  | "dispatched"
  | "running"
  | "progress"
  | "output"
  | "retrying"
  | "completed"
  | "failed"
  | "cancelled"
  | "skipped";

type RunRef = Pick<Job, "id" | "project_id" | "project_node" | "variant">;

export class RunEvents {
  /** Per running project: each run's last percent and how many runs it has. */
  private readonly projects = new Map<string, { runs: number; percent: Map<string, number> }>();

  constructor(
    readonly events: JobEvents,
    private readonly runsOf: (projectId: string) => { id: string; status: string }[],
  ) {}

  emit(run: RunRef, kind: RunEventKind, data: Record<string, unknown> = {}): void {
    if (run.project_id === run.id) {
      this.events.emit(`job.${kind}` as JobEventType, run.id, data);
      return;
    }
    this.events.emit(`job.node.${kind}` as JobEventType, run.project_id, {
      ...data,
      project_node: run.project_node,
      variant: run.variant,
    });
    if (kind === "progress") this.projectProgress(run, Number(data.percent) || 0);
    else if (kind === "completed" || kind === "failed" || kind === "skipped" || kind === "cancelled")
      this.projectProgress(run, 100);
  }

  output(run: RunRef, o: JobOutput): void {
    const { filename, node_id, kind, content_type, size } = o;
    this.emit(run, "output", { filename, node_id, kind, content_type, size });
  }

  /** A live preview of a run, under the job id its client follows. */
  preview(run: RunRef, frame: PreviewFrame): void {
    this.events.emitPreview({ job_id: run.project_id, format: frame.format, image: frame.image });
  }

  /** Whether to ask a host for live previews of a run: only if someone follows its job (or always/never). */
  previewMethod(
    run: RunRef,
    previews: { request: "when_subscribed" | "always" | "never"; method: string } | undefined,
  ): string | null {
    const p = previews ?? { request: "when_subscribed", method: "auto" };
    if (p.request === "never") return null;
    return p.request === "always" || this.events.previewInterest(run.project_id) ? p.method : null;
  }

  /** The project's own event (`job.running`, `job.completed`, …). */
  project(projectId: string, type: JobEventType, data: Record<string, unknown> = {}): void {
    if (type === "job.completed" || type === "job.failed" || type === "job.cancelled")
      this.projects.delete(projectId);
    this.events.emit(type, projectId, data);
  }

  private projectProgress(run: RunRef, percent: number): void {
    let p = this.projects.get(run.project_id);
    if (!p) {
      // After a restart the runs that ended before it still count as done.
      const runs = this.runsOf(run.project_id);
      const ended = runs.filter((r) => isTerminal(r.status as JobStatus)).map((r) => [r.id, 100] as const);
      p = { runs: Math.max(1, runs.length), percent: new Map(ended) };
      this.projects.set(run.project_id, p);
    }
    p.percent.set(run.id, percent);
    let sum = 0;
    for (const v of p.percent.values()) sum += v;
    const value = Number(Math.min(99.9, sum / p.runs).toFixed(1));
    this.events.emit("job.progress", run.project_id, {
      value,
      max: 100,
      node_id: null,
      node_title: null,
      percent: value,
    });
  }
}
