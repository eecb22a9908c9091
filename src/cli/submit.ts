// `orchestrator submit WORKFLOW key=value … [--image name=path] [--priority N] [--wait] [-o DIR]`: builds the
// manifest (values typed by the workflow's own parameter types), submits, and with --wait follows the job
// and downloads its outputs.
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { type JobView, OrchestratorError, type WorkflowDetail } from "../client/index.js";
import { flagValue, flagValues, hasFlag, intFlag, UsageError } from "./args.js";
import { type Command, type Context, EXIT, printJson } from "./context.js";
import { progressView } from "./progress.js";

export const submitCommand: Command = {
  name: "submit",
  usage: "submit WORKFLOW [key=value ...] [--image name=path] [--priority N] [--wait] [-o DIR]",
  summary: "submit a job (and optionally wait for it and download its outputs)",
  details: `Parameters are key=value; values are typed by the workflow's parameter types (integer, number,
boolean...). Use key:=JSON for a raw JSON value (key:='[1,2]').

  --image name=path    send a local image for an image parameter (multipart upload)
  --priority N         higher runs first (default 0)
  --timeout S          job timeout in seconds
  --idempotency-key K  a repeat with the same key returns the first job
  --wait               follow the job until it ends: a progress bar on a terminal, plain lines otherwise
  -o, --output DIR     with --wait: download the outputs into DIR (implies --wait)
  --json               print the answer (or, with --wait, the finished job) as JSON

Exit: 0 submitted (or completed with --wait), 1 the job failed or was cancelled, 2 rejected or unreachable.

  orchestrator submit txt2img_basic prompt="a red fox" steps=20 --wait -o out/
  orchestrator submit scale_image --image image=photo.png width=512 --wait`,
  flags: [
    { name: "image", value: true, repeat: true },
    { name: "priority", value: true },
    { name: "timeout", value: true },
    { name: "idempotency-key", value: true },
    { name: "wait" },
    { name: "output", alias: "o", value: true },
  ],
  async run(ctx, p) {
    const [workflowId, ...pairs] = p.positionals;
    if (!workflowId)
      throw new UsageError("submit needs a WORKFLOW id (see `orchestrator workflows`)", "submit");
    const definition = await ctx.client.workflow(workflowId).catch((err: unknown) => {
      // An unknown or broken workflow is reported by the submit itself, with the server's words.
      if (err instanceof OrchestratorError && err.status < 500) return null;
      throw err;
    });
    const parameters = parseParameters(pairs, definition);
    const images: Record<string, Uint8Array> = {};
    for (const spec of flagValues(p, "image")) {
      const eq = spec.indexOf("=");
      if (eq <= 0) throw new UsageError(`--image expects name=path, got "${spec}"`, "submit");
      const file = spec.slice(eq + 1);
      images[spec.slice(0, eq)] = await readFile(file).catch((err: NodeJS.ErrnoException) => {
        throw new UsageError(`cannot read ${file}: ${err.code ?? err.message}`, "submit");
      });
    }
    const priority = intFlag(p, "priority", "submit");
    const timeout = flagValue(p, "timeout");
    if (timeout !== undefined && !(Number(timeout) > 0))
      throw new UsageError(`--timeout expects seconds, got "${timeout}"`, "submit");
    const outDir = flagValue(p, "output");
    const wait = hasFlag(p, "wait") || outDir !== undefined;

    const accepted = await ctx.client.submit(
      {
        workflow_id: workflowId,
        parameters,
        ...(priority !== undefined ? { priority } : {}),
        ...(timeout !== undefined ? { timeout_s: Number(timeout) } : {}),
      },
      { images, idempotencyKey: flagValue(p, "idempotency-key") },
    );
    if (!wait) {
      if (ctx.json) printJson(ctx, accepted);
      else ctx.out.write(`${accepted.job_id}\n`);
      return EXIT.OK;
    }
    if (!ctx.json) ctx.err.write(`job ${accepted.job_id}\n`);
    const view = ctx.json ? null : progressView(ctx.err);
    const job = await ctx.client.wait(accepted.job_id, {
      onEvent: (e) => view?.event(e),
      signal: ctx.signal,
    });
    view?.finish();
    const saved = outDir && job.status === "completed" ? await saveOutputs(ctx, job, outDir) : [];
    if (ctx.json) printJson(ctx, { ...job, ...(outDir ? { saved } : {}) });
    else report(ctx, job, saved);
    return job.status === "completed" ? EXIT.OK : EXIT.JOB_FAILED;
  },
};

function report(ctx: Context, job: JobView, saved: string[]): void {
  if (job.status !== "completed") {
    const why = job.error ? `: ${job.error.code}: ${job.error.message}` : "";
    ctx.err.write(`job ${job.job_id} ${job.status}${why}\n`);
    return;
  }
  if (saved.length > 0) for (const file of saved) ctx.out.write(`${file}\n`);
  else for (const o of job.outputs) ctx.out.write(`${o.url}\n`);
}

async function saveOutputs(ctx: Context, job: JobView, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const output of job.outputs) {
    const { bytes } = await ctx.client.download(output, { signal: ctx.signal });
    // The server's filename, without any directory part, so a name can never write outside DIR.
    const file = path.join(dir, path.basename(output.filename));
    await writeFile(file, bytes);
    files.push(file);
  }
  return files;
}

/** key=value pairs typed by the workflow's parameter types; unknown names go as strings for the server to judge. */
export function parseParameters(pairs: string[], wf: WorkflowDetail | null): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const raw = pair.indexOf(":=");
    const eq = pair.indexOf("=");
    if (raw > 0 && raw < eq) {
      const key = pair.slice(0, raw);
      try {
        out[key] = JSON.parse(pair.slice(raw + 2));
      } catch {
        throw new UsageError(`${key}:= expects JSON, got ${pair.slice(raw + 2)}`, "submit");
      }
      continue;
    }
    if (eq <= 0) throw new UsageError(`expected key=value, got "${pair}"`, "submit");
    const key = pair.slice(0, eq);
    out[key] = typed(pair.slice(eq + 1), wf?.parameters[key]?.type, wf?.parameters[key]?.choices);
  }
  return out;
}

function typed(value: string, type: string | undefined, choices?: (string | number)[]): unknown {
  const n = Number(value);
  switch (type) {
    case "integer":
    case "number":
    case "seed":
      return value.trim() !== "" && Number.isFinite(n) ? n : value;
    case "boolean":
      return value === "true" ? true : value === "false" ? false : value;
    case "enum":
      return choices?.includes(value) ? value : choices?.includes(n) ? n : value;
    default:
      return value;
  }
}
