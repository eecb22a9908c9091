// The CLI's read and control commands: status, jobs, cancel, workflows, backends, drain/enable/disable.
import type { BackendAction, JobStatus } from "../client/index.js";
import { flagValue, intFlag, type Parsed, UsageError } from "./args.js";
import { type Command, EXIT, printJson } from "./context.js";
import { backendRows, describeJob, percent, table } from "./format.js";

const STATUSES: JobStatus[] = [
  "queued",
  "dispatching",
  "running",
  "retrying",
  "completed",
  "failed",
  "cancelled",
];

function one(p: Parsed, what: string, command: string): string {
  const [id, extra] = p.positionals;
  if (!id) throw new UsageError(`${command} needs ${what}`, command);
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}"`, command);
  return id;
}

export const statusCommand: Command = {
  name: "status",
  usage: "status JOB",
  summary: "show one job: status, progress, host, error, outputs",
  details: "  --json  the whole job as the API returns it (attempts included)",
  flags: [],
  async run(ctx, p) {
    const job = await ctx.client.get(one(p, "a JOB id", "status"));
    if (ctx.json) printJson(ctx, job);
    else ctx.out.write(`${describeJob(job)}\n`);
    return EXIT.OK;
  },
};

export const jobsCommand: Command = {
  name: "jobs",
  usage: "jobs [--status s1,s2] [--workflow ID] [--limit N]",
  summary: "list jobs, newest first",
  details: `  --status LIST   comma list of ${STATUSES.join(", ")}
  --workflow ID   only this workflow's jobs
  --limit N       at most N (default 20)`,
  flags: [
    { name: "status", value: true },
    { name: "workflow", value: true },
    { name: "limit", value: true },
  ],
  async run(ctx, p) {
    const status = flagValue(p, "status")
      ?.split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = status?.find((s) => !STATUSES.includes(s as JobStatus));
    if (bad) throw new UsageError(`unknown status "${bad}"; expected ${STATUSES.join(", ")}`, "jobs");
    const page = await ctx.client.list({
      status: status as JobStatus[] | undefined,
      workflow_id: flagValue(p, "workflow"),
      limit: intFlag(p, "limit", "jobs") ?? 20,
    });
    if (ctx.json) {
      printJson(ctx, page);
      return EXIT.OK;
    }
    const rows = page.jobs.map((j) => [
      j.job_id,
      j.status,
      percent(j),
      j.workflow_id,
      j.backend_id,
      j.created_at,
    ]);
    ctx.out.write(`${table(["JOB", "STATUS", "PROGRESS", "WORKFLOW", "HOST", "CREATED"], rows)}\n`);
    return EXIT.OK;
  },
};

export const cancelCommand: Command = {
  name: "cancel",
  usage: "cancel JOB",
  summary: "cancel a job (queued, waiting on a host or running)",
  details: "Repeating is harmless; a job that completed or failed is an error (JOB_FINISHED, exit 2).",
  flags: [],
  async run(ctx, p) {
    const job = await ctx.client.cancel(one(p, "a JOB id", "cancel"));
    if (ctx.json) printJson(ctx, job);
    else ctx.out.write(`${job.job_id} ${job.status}\n`);
    return EXIT.OK;
  },
};

export const workflowsCommand: Command = {
  name: "workflows",
  usage: "workflows [ID]",
  summary: "list workflows and their parameters (or show one)",
  details: "  With an ID: its parameters with types, defaults and limits.",
  flags: [],
  async run(ctx, p) {
    const [id] = p.positionals;
    if (id) {
      const wf = await ctx.client.workflow(id);
      if (ctx.json) printJson(ctx, wf);
      else {
        ctx.out.write(`${wf.id}: ${wf.name}${wf.description ? ` - ${wf.description}` : ""}\n`);
        const rows = Object.entries(wf.parameters).map(([name, q]) => [
          name,
          q.type,
          q.required ? "yes" : "",
          q.default === undefined ? "" : JSON.stringify(q.default),
          q.choices
            ? q.choices.join("|")
            : [q.min, q.max].some((x) => x !== undefined)
              ? `${q.min ?? ""}..${q.max ?? ""}`
              : "",
          q.description ?? "",
        ]);
        ctx.out.write(
          `${table(["PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "RANGE", "DESCRIPTION"], rows)}\n`,
        );
      }
      return EXIT.OK;
    }
    const { workflows } = await ctx.client.workflows();
    if (ctx.json) {
      printJson(ctx, { workflows });
      return EXIT.OK;
    }
    const rows = workflows.map((w) =>
      w.valid ? [w.id, "yes", Object.keys(w.parameters).join(", ")] : [w.id, "NO", w.errors.join("; ")],
    );
    ctx.out.write(`${table(["WORKFLOW", "VALID", "PARAMETERS"], rows)}\n`);
    return EXIT.OK;
  },
};

export const backendsCommand: Command = {
  name: "backends",
  usage: "backends",
  summary: "list the ComfyUI hosts: state, load, VRAM, counters",
  details: "",
  flags: [],
  async run(ctx) {
    const { backends } = await ctx.client.backends();
    if (ctx.json) printJson(ctx, { backends });
    else ctx.out.write(`${backendRows(backends)}\n`);
    return EXIT.OK;
  },
};

function backendAction(action: BackendAction, summary: string): Command {
  return {
    name: action,
    usage: `${action} HOST`,
    summary,
    details: "",
    flags: [],
    async run(ctx, p) {
      const b = await ctx.client.backendAction(one(p, "a HOST id", action), action);
      if (ctx.json) printJson(ctx, b);
      else ctx.out.write(`${b.id} ${b.state}\n`);
      return EXIT.OK;
    },
  };
}

export const drainCommand = backendAction("drain", "finish a host's in-flight jobs, take nothing new");
export const enableCommand = backendAction("enable", "put a host back in service (also ends a drain)");
export const disableCommand = backendAction("disable", "take a host out of service");
