// Decides a project's next step from its rows: which waiting runs are ready (with their upstream outputs as
// inputs), which can never run, and whether the project has ended. It only reads; the JobManager applies
// the step, so every state change still happens in one place.
import type { JobError, JobInput, JobStatus } from "../models.js";
import type { FileStore } from "../storage/file-store.js";
import type { JobStore } from "../storage/job-store.js";
import type { RunRow } from "../storage/project-rows.js";
import { describeRun, projectStatus, readyRuns, runsToSkip } from "./project-graph.js";

export interface ProjectStep {
  ready: { run: RunRow; inputs: JobInput[] }[];
  /** Ready by the graph, but an upstream output it names does not exist. */
  unresolvable: { run: RunRow; error: JobError }[];
  skipped: { run: RunRow; error: JobError }[];
  end: { status: JobStatus; error: JobError | null } | null;
}

export class ProjectRunner {
  constructor(
    private readonly store: JobStore,
    private readonly files: FileStore,
  ) {}

  /** The runs of a multi-node project, or null when `projectId` is a one-run job (its run is the job). */
  runs(projectId: string): { head: RunRow; runs: RunRow[] } | null {
    const rows = this.store.projects.runsOf(projectId);
    const head = rows.find((r) => r.id === projectId);
    if (!head || head.project_node !== null) return null;
    return { head, runs: rows.filter((r) => r.project_node !== null) };
  }

  step(runs: RunRow[]): ProjectStep {
    const step: ProjectStep = { ready: [], unresolvable: [], skipped: [], end: null };
    for (const run of readyRuns(runs)) {
      const r = this.inputsOf(run);
      if ("error" in r) step.unresolvable.push({ run, error: r.error });
      else step.ready.push({ run, inputs: r.inputs });
    }
    for (const { run, cause } of runsToSkip(runs)) {
      step.skipped.push({
        run,
        error: {
          code: "UPSTREAM_FAILED",
          message: `upstream node ${describeRun(cause)} ${cause.status === "skipped" ? "was skipped" : cause.status}`,
          details: { node: cause.project_node, variant: cause.variant, status: cause.status },
        },
      });
    }
    if (step.ready.length + step.unresolvable.length + step.skipped.length === 0) {
      const status = projectStatus(runs);
      if (status === "completed" || status === "failed" || status === "cancelled") {
        step.end = { status, error: status === "completed" ? null : summary(runs) };
      }
    }
    return step;
  }

  /** `{"from": X}` takes X's first image; `{"from": X, "output": N}` its N-th output, in its outputs' order. */
  private inputsOf(run: RunRow): { inputs: JobInput[] } | { error: JobError } {
    const inputs: JobInput[] = [];
    for (const link of run.links) {
      const up = this.store.get(link.run_id);
      const outputs = up?.outputs ?? [];
      const out =
        link.output === undefined
          ? outputs.find((o) => o.content_type.startsWith("image/"))
          : outputs[link.output];
      const file = out && up ? this.files.resolve("outputs", up.id, out.filename) : null;
      if (!out || !file) {
        const which = link.output === undefined ? "an image output" : `output ${link.output}`;
        return {
          error: {
            code: "UPSTREAM_OUTPUT_MISSING",
            message: `node "${link.from}" has no ${which} (it has ${outputs.length} output(s))`,
            details: { parameter: link.parameter, from: link.from, output: link.output ?? null },
          },
        };
      }
      const ext = out.filename.includes(".") ? out.filename.slice(out.filename.lastIndexOf(".")) : "";
      inputs.push({
        parameter: link.parameter,
        targets: link.targets,
        file,
        filename: `${link.parameter}${ext}`,
        content_type: out.content_type,
        size: out.size,
      });
    }
    return { inputs };
  }
}

function summary(runs: RunRow[]): JobError {
  const bad = runs.filter((r) => r.status !== "completed");
  const failed = bad.filter((r) => r.status === "failed");
  const first = failed[0] ?? bad[0];
  const parts = [
    failed.length ? `${failed.length} node run(s) failed` : null,
    bad.some((r) => r.status === "skipped")
      ? `${bad.filter((r) => r.status === "skipped").length} skipped`
      : null,
    `${runs.length - bad.length} of ${runs.length} completed`,
  ].filter(Boolean);
  return {
    code: failed.length
      ? "NODE_FAILED"
      : bad.every((r) => r.status === "cancelled")
        ? "CANCELLED"
        : "NODE_FAILED",
    message: `${parts.join(", ")}${first?.error ? `; first: ${describeRun(first)}: ${first.error.message}` : ""}`,
    details: {
      nodes: bad.map((r) => ({ id: r.project_node, variant: r.variant, status: r.status, error: r.error })),
    },
  };
}
