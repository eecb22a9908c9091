// Human output for the CLI: aligned tables and short descriptions of jobs and hosts.
import type { Backend, JobView } from "../client/index.js";

export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [
    headers,
    ...rows.map((r) => r.map((c) => (c === null || c === undefined ? "-" : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i]?.length ?? 0)));
  return cells
    .map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("  "))
    .join("\n");
}

export const percent = (job: Pick<JobView, "progress" | "status">) =>
  job.status === "completed" ? "100%" : job.progress ? `${Math.floor(job.progress.percent)}%` : "-";

export function describeJob(job: JobView): string {
  const lines = [
    `job       ${job.job_id}`,
    `status    ${job.status}${job.progress && job.status === "running" ? ` (${percent(job)})` : ""}`,
    `workflow  ${job.workflow_id} (${job.workflow_version})`,
    `backend   ${job.backend_id ?? "-"}  attempt ${job.attempt}/${job.max_attempts}`,
    `created   ${job.created_at}${job.finished_at ? `  finished ${job.finished_at}` : ""}`,
  ];
  if (job.error) lines.push(`error     ${job.error.code}: ${job.error.message}`);
  for (const o of job.outputs)
    lines.push(`output    ${o.filename} (${o.content_type}, ${o.size} B) ${o.url}`);
  if (job.outputs_expired) lines.push("outputs   deleted (retention)");
  return lines.join("\n");
}

const gb = (bytes: number | null) => (bytes === null ? "-" : `${(bytes / 2 ** 30).toFixed(1)}G`);

export function backendRows(backends: Backend[]) {
  return table(
    ["HOST", "STATE", "INFLIGHT", "QUEUE", "VRAM FREE", "DONE", "FAILED", "REASON"],
    backends.map((b) => [
      b.id,
      b.state,
      `${b.inflight}/${b.max_inflight}`,
      b.queue_running + b.queue_pending,
      `${gb(b.vram_free)}/${gb(b.vram_total)}`,
      b.jobs_completed,
      b.jobs_failed,
      b.state === "online" ? "" : b.reason,
    ]),
  );
}
