// Every fixed SQL statement the job store runs, prepared once. The dynamic ones (a list's filters, a
// transition's patch) are built per call in JobStore.

import type { SqlDatabase } from "./sql.js";

export function prepareJobStatements(db: SqlDatabase) {
  return {
    insert:
      db.prepare(`INSERT INTO jobs (id, status, workflow_id, workflow_version, parameters, graph, requires,
      min_vram_gb, timeout_s, priority, idempotency_key, webhook_url, metadata, inputs, backend_id, prompt_id,
      attempt, max_attempts, progress, error, created_at, updated_at, started_at, finished_at, not_before,
      queue_key, owner, project_id, project_node, variant, project, links)
      VALUES (@id, @status, @workflow_id, @workflow_version, @parameters, @graph, @requires, @min_vram_gb,
      @timeout_s, @priority, @idempotency_key, @webhook_url, @metadata, @inputs, @backend_id, @prompt_id,
      @attempt, @max_attempts, @progress, @error, @created_at, @created_at, @started_at, @finished_at,
      @not_before, @queue_key, @owner, @project_id, @project_node, @variant, @project, @links) RETURNING seq`),
    get: db.prepare("SELECT * FROM jobs WHERE id = ?"),
    outputs: db.prepare("SELECT * FROM job_outputs WHERE job_id = ? ORDER BY created_at, filename"),
    projectOutputs: db.prepare(`SELECT o.*, j.project_node, j.variant FROM job_outputs o
      JOIN jobs j ON j.id = o.job_id WHERE j.project_id = ? AND j.id != j.project_id
      ORDER BY j.seq, o.created_at, o.filename`),
    attempts: db.prepare("SELECT * FROM job_attempts WHERE job_id = ? ORDER BY attempt"),
    // Scoped to the key that made the job, so one client's idempotency key never returns another's job.
    byKey: db.prepare(
      "SELECT id FROM jobs WHERE idempotency_key = ? AND owner IS NOT DISTINCT FROM ? AND created_at >= ? ORDER BY seq DESC LIMIT 1",
    ),
    ownerOf: db.prepare("SELECT owner FROM jobs WHERE id = ?"),
    statusOf: db.prepare("SELECT status FROM jobs WHERE id = ?"),
    // A project counts once (its own row), not once per node run.
    unfinishedOf: db.prepare(`SELECT COUNT(*) AS n FROM jobs WHERE owner = ? AND owner IS NOT NULL
      AND status IN ('queued', 'dispatching', 'running', 'retrying') AND (project_id IS NULL OR project_id = id)`),
    queued: db.prepare(
      "SELECT id, requires, min_vram_gb FROM jobs WHERE status = 'queued' ORDER BY priority DESC, seq LIMIT ?",
    ),
    graph: db.prepare("SELECT graph FROM jobs WHERE id = ?"),
    webhookUrl: db.prepare("SELECT webhook_url FROM jobs WHERE id = ?"),
    outputNames: db.prepare(
      "SELECT filename FROM job_outputs WHERE job_id = ? ORDER BY created_at, filename",
    ),
    byStatus: db.prepare("SELECT * FROM jobs WHERE status = ? ORDER BY seq LIMIT ?"),
    onBackend: db.prepare(
      "SELECT * FROM jobs WHERE status IN ('dispatching', 'running') AND backend_id = ? ORDER BY seq LIMIT ?",
    ),
    unfinishedBackends: db.prepare(
      "SELECT DISTINCT backend_id FROM jobs WHERE status IN ('dispatching', 'running') AND backend_id IS NOT NULL",
    ),
    counts: db.prepare(
      "SELECT status, COUNT(*) AS n FROM jobs WHERE project_id IS NULL OR project_id = id GROUP BY status",
    ),
    addOutput: db.prepare(`INSERT INTO job_outputs (job_id, filename, node_id, comfy_filename,
      comfy_subfolder, comfy_type, kind, content_type, size, sha256, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (job_id, filename) DO UPDATE SET node_id = excluded.node_id,
      comfy_filename = excluded.comfy_filename, comfy_subfolder = excluded.comfy_subfolder,
      comfy_type = excluded.comfy_type, kind = excluded.kind, content_type = excluded.content_type,
      size = excluded.size, sha256 = excluded.sha256, created_at = excluded.created_at`),
    deleteOutputs: db.prepare("DELETE FROM job_outputs WHERE job_id = ?"),
    startAttempt: db.prepare(`INSERT INTO job_attempts (job_id, attempt, backend_id, prompt_id, started_at)
      VALUES (?, ?, ?, ?, ?) ON CONFLICT (job_id, attempt) DO UPDATE SET backend_id = excluded.backend_id,
      prompt_id = excluded.prompt_id, started_at = excluded.started_at, ended_at = NULL, error = NULL`),
    endAttempt: db.prepare(
      "UPDATE job_attempts SET ended_at = ?, error = ? WHERE job_id = ? AND attempt = ? AND ended_at IS NULL",
    ),
    setAttemptPrompt: db.prepare("UPDATE job_attempts SET prompt_id = ? WHERE job_id = ? AND attempt = ?"),
    queuedBefore: db.prepare(
      // A run that waited on upstream nodes counts its queue time from when it became ready.
      `SELECT id FROM jobs WHERE status = 'queued' AND project IS NULL AND created_at < ?
       AND (links = '[]' OR updated_at < ?) ORDER BY created_at LIMIT ?`,
    ),
    setPrompt: db.prepare("UPDATE jobs SET prompt_id = ?, updated_at = ? WHERE id = ? AND attempt = ?"),
    progress: db.prepare("UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND status = 'running'"),
    expire: db.prepare("UPDATE jobs SET outputs_expired = 1, updated_at = ? WHERE id = ?"),
    metaGet: db.prepare("SELECT value FROM meta WHERE key = ?"),
    metaClaim: db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"),
    metaSet: db.prepare(
      "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ),
    finishedBefore: db.prepare(`SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?
      AND status IN ('completed', 'failed', 'cancelled', 'skipped')
      AND outputs_expired = 0 ORDER BY finished_at LIMIT ?`),
  };
}

export type JobStatements = ReturnType<typeof prepareJobStatements>;
