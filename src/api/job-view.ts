// The JSON a client sees for a job. Output URLs are absolute so a client can fetch them as they are.
import type { FastifyRequest } from "fastify";
import type { Job, JobAttempt, JobOutput } from "../core/models.js";
import type { WebhookStatusView } from "../core/webhooks/webhook-dispatcher.js";
import type { JobView } from "./schemas/jobs.js";

/** A host name (RFC 1123 labels), IPv4 address or bracketed IPv6 address, with an optional port. */
const SAFE_HOST =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/**
 * server.public_url, else the request's Host when it is a plain host[:port]: anything else (quotes, markup,
 * a path) would be reflected into every output URL, so the address the request reached us on is used.
 */
export function baseUrlOf(req: FastifyRequest, publicUrl?: string): string {
  if (publicUrl) return publicUrl.replace(/\/$/, "");
  const host = req.host;
  if (host && host.length <= 260 && SAFE_HOST.test(host)) return `${req.protocol}://${host}`;
  const addr = req.socket.localAddress ?? "127.0.0.1";
  const bare = addr.startsWith("::ffff:") ? addr.slice(7) : addr;
  return `${req.protocol}://${bare.includes(":") ? `[${bare}]` : bare}:${req.socket.localPort}`;
}

export function outputUrl(base: string, jobId: string, filename: string): string {
  return `${base}/api/job/${encodeURIComponent(jobId)}/outputs/${encodeURIComponent(filename)}`;
}

function outputView(out: JobOutput, base: string, jobId: string) {
  return {
    filename: out.filename,
    node_id: out.node_id,
    ...(out.project_node !== undefined
      ? { project_node: out.project_node, variant: out.variant ?? null }
      : {}),
    kind: out.kind,
    content_type: out.content_type,
    size: out.size,
    sha256: out.sha256,
    url: outputUrl(base, jobId, out.filename),
  };
}

/** One run of a project node: a node with `count` (or mapped over a fan-out) has one per variant. */
function nodeView(run: Job, base: string, jobId: string) {
  return {
    id: run.project_node,
    variant: run.variant,
    workflow_id: run.workflow_id,
    status: run.status,
    backend_id: run.backend_id,
    prompt_id: run.prompt_id,
    attempts: run.attempt,
    progress: run.progress ? { ...run.progress } : null,
    error: run.error ? { ...run.error } : null,
    outputs: run.outputs.map((out) => outputView(out, base, jobId)),
    started_at: run.started_at,
    finished_at: run.finished_at,
  };
}

export function jobView(
  job: Job,
  base: string,
  o: { attempts?: JobAttempt[]; graph?: boolean; webhook?: WebhookStatusView | null } = {},
): JobView {
  const project = job.project !== null;
  return {
    job_id: job.id,
    status: job.status,
    workflow_id: project ? null : job.workflow_id,
    workflow_version: project ? null : job.workflow_version,
    parameters: project ? null : job.parameters,
    priority: job.priority,
    owner: job.owner,
    backend_id: job.backend_id,
    prompt_id: job.prompt_id,
    attempt: job.attempt,
    max_attempts: job.max_attempts,
    progress: job.progress ? { ...job.progress } : null,
    error: job.error ? { ...job.error } : null,
    outputs: job.outputs.map((out) => outputView(out, base, job.id)),
    nodes: (job.nodes ?? [job]).map((n) => nodeView(n, base, job.id)),
    outputs_expired: job.outputs_expired,
    ...(o.attempts ? { attempts: o.attempts.map((a) => ({ ...a, error: a.error && { ...a.error } })) } : {}),
    metadata: job.metadata,
    idempotency_key: job.idempotency_key,
    timeout_s: job.timeout_s,
    created_at: job.created_at,
    updated_at: job.updated_at,
    started_at: job.started_at,
    finished_at: job.finished_at,
    ...(o.webhook ? { webhook: { ...o.webhook } } : {}),
    ...(o.graph ? { graph: job.graph } : {}),
  };
}
