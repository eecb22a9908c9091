// `orchestrator watch`: a live view of the fleet. On a terminal it redraws the hosts and the active jobs
// every second from the /api/ws event stream; piped, it prints one line per job state change (with --json,
// every message as one JSON line).
import type { Backend, JobEvent, JobView } from "../client/index.js";
import { type Command, type Context, EXIT } from "./context.js";
import { backendRows, table } from "./format.js";

interface Row {
  job_id: string;
  workflow: string;
  status: string;
  host: string | null;
  percent: number | null;
  endedAt?: number;
}

const REFRESH_MS = 1000;
/** How long a finished job stays on screen. */
const LINGER_MS = 5000;

export const watchCommand: Command = {
  name: "watch",
  usage: "watch",
  summary: "live fleet view: hosts and active jobs (Ctrl-C to stop)",
  details:
    "On a terminal: redrawn every second. Piped: one line per job state change; --json: one JSON line per event.",
  flags: [],
  async run(ctx) {
    const socket = await ctx.client.socket();
    const rows = new Map<string, Row>();
    let backends: Backend[] = (await ctx.client.backends()).backends;
    const tty = ctx.out.isTTY === true && !ctx.json;
    socket.onMessage((m) => {
      if (ctx.json) {
        ctx.out.write(`${JSON.stringify(m)}\n`);
        return;
      }
      if (m.type === "subscribed" && !tty) ctx.err.write(`watching ${ctx.client.baseUrl} (Ctrl-C to stop)\n`);
      if (!m.type.startsWith("job.")) return;
      const e = m as JobEvent;
      apply(rows, e);
      if (!tty && e.type !== "job.progress") ctx.out.write(`${line(e)}\n`);
    });
    socket.subscribe({ all: true });
    const timer = tty
      ? setInterval(async () => {
          backends = await ctx.client.backends().then(
            (b) => b.backends,
            () => backends,
          );
          draw(ctx, backends, rows);
        }, REFRESH_MS)
      : null;
    if (tty) draw(ctx, backends, rows);
    const stopped = new Promise<"stopped">((resolve) =>
      ctx.signal.addEventListener("abort", () => resolve("stopped"), { once: true }),
    );
    const end = await Promise.race([stopped, socket.closed]);
    if (timer) clearInterval(timer);
    socket.close();
    if (end === "stopped") return EXIT.OK;
    ctx.err.write(`the server closed the event stream (${end.code}${end.reason ? `: ${end.reason}` : ""})\n`);
    return EXIT.USAGE;
  },
};

function apply(rows: Map<string, Row>, e: JobEvent): void {
  if (e.type === "job.snapshot") {
    rows.set(e.job_id, fromJob(e.job));
    return;
  }
  const row = rows.get(e.job_id) ?? {
    job_id: e.job_id,
    workflow: "workflow_id" in e && typeof e.workflow_id === "string" ? e.workflow_id : "?",
    status: "queued",
    host: null,
    percent: null,
  };
  if (e.type === "job.progress") row.percent = e.percent;
  else if (e.type === "job.dispatched") Object.assign(row, { status: "dispatching", host: e.backend_id });
  else if (e.type === "job.running") Object.assign(row, { status: "running", host: e.backend_id });
  else if (e.type === "job.retrying") row.status = "retrying";
  else if (e.type === "job.queued") row.status = "queued";
  else if (e.type === "job.completed" || e.type === "job.failed" || e.type === "job.cancelled") {
    row.status = e.type.slice(4);
    row.endedAt = Date.now();
    if (e.type === "job.completed") row.percent = 100;
  }
  rows.set(e.job_id, row);
}

const fromJob = (j: JobView): Row => ({
  job_id: j.job_id,
  workflow: j.workflow_id ?? "project",
  status: j.status,
  host: j.backend_id,
  percent: j.progress?.percent ?? null,
});

function line(e: JobEvent): string {
  const extra =
    e.type === "job.snapshot"
      ? e.job.status
      : e.type === "job.dispatched" || e.type === "job.running"
        ? e.backend_id
        : e.type === "job.failed" || e.type === "job.retrying"
          ? `${e.error.code}: ${e.error.message}`
          : e.type === "job.output"
            ? e.filename
            : "";
  return `${e.ts} ${e.job_id} ${e.type.slice(4)}${extra ? ` ${extra}` : ""}`;
}

function draw(ctx: Context, backends: Backend[], rows: Map<string, Row>): void {
  const now = Date.now();
  for (const [id, r] of rows) if (r.endedAt && now - r.endedAt > LINGER_MS) rows.delete(id);
  const jobs = [...rows.values()].map((r) => [
    r.job_id,
    r.status,
    r.percent === null ? "-" : `${Math.floor(r.percent)}%`,
    r.workflow,
    r.host,
  ]);
  const screen = [
    `Orchestrator ${ctx.client.baseUrl}  ${new Date().toISOString()}  (Ctrl-C to stop)`,
    "",
    backendRows(backends),
    "",
    jobs.length ? table(["JOB", "STATUS", "PROGRESS", "WORKFLOW", "HOST"], jobs) : "no active jobs",
  ];
  // Home the cursor and clear the screen, then draw: one write, so the view does not flicker.
  ctx.out.write(`\x1b[H\x1b[2J${screen.join("\n")}\n`);
}
