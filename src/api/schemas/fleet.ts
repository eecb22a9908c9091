// Wire shapes of workflow discovery, backend control and health.
import { z } from "zod";
import { BackendConfigSchema } from "../../config.js";

export const ParameterSummarySchema = z
  .looseObject({
    type: z.string().meta({ description: "string, integer, number, boolean, seed, enum or image" }),
    required: z.boolean(),
    default: z.unknown().optional(),
    min: z.number().optional(),
    max: z.number().optional(),
    choices: z.array(z.union([z.string(), z.number()])).optional(),
    description: z.string().optional(),
    targets: z.array(z.string()).optional().meta({ description: '"NODE_ID.INPUT" inputs it patches' }),
  })
  .meta({ id: "ParameterSummary" });

const workflowFields = {
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  format: z.string().meta({ description: "`definition` or `api_export`" }),
  version: z.string().meta({ description: "Content hash; jobs record the version they ran" }),
  requires: z.array(z.string()),
  min_vram_gb: z.number().nullable(),
  timeout_s: z.number().nullable(),
  valid: z.literal(true),
  parameters: z.record(z.string(), ParameterSummarySchema),
};

export const WorkflowSummarySchema = z.looseObject(workflowFields).meta({ id: "WorkflowSummary" });
export const InvalidWorkflowSchema = z
  .looseObject({ id: z.string(), valid: z.literal(false), errors: z.array(z.string()) })
  .meta({ id: "InvalidWorkflow", description: "A workflow file that failed to load, with the reasons" });

export const WorkflowListSchema = z
  .looseObject({ workflows: z.array(z.union([WorkflowSummarySchema, InvalidWorkflowSchema])) })
  .meta({ id: "WorkflowList" });

export const WorkflowDetailSchema = z
  .looseObject({
    ...workflowFields,
    parameters_schema: z.record(z.string(), z.unknown()).meta({
      description: "JSON Schema (draft 2020-12) of `parameters`, ready to render a form from",
    }),
  })
  .meta({ id: "WorkflowDetail" });

export const WorkflowParams = z.object({ id: z.string().min(1) });

export const BACKEND_ACTIONS = ["drain", "enable", "disable", "refresh"] as const;
export const BackendActionParams = z.object({
  id: z.string().min(1),
  action: z.enum(BACKEND_ACTIONS).meta({
    description:
      "`drain`: finish in-flight jobs, take nothing new; `enable`: back in service (ends a drain); " +
      "`disable`; `refresh`: re-read /object_info",
  }),
});

const count = () => z.number().int();

export const BackendSchema = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    host: z.string(),
    port: z.number().int(),
    enabled: z.boolean(),
    capabilities: z.array(z.string()),
    status: z.string().meta({ description: "`online`, `degraded` or `offline`" }),
    state: z.string().meta({ description: "status, or `disabled`, `draining`, `drained`, `removing`" }),
    reason: z.string().nullable(),
    queue_running: count(),
    queue_pending: count(),
    foreign_queued: count().meta({ description: "Other clients' prompts on the host" }),
    inflight: count(),
    max_inflight: count(),
    interrupting: z
      .array(z.looseObject({ prompt_id: z.string(), since: z.string(), overdue: z.boolean() }))
      .meta({
        description:
          "Cancelled or timed-out prompts still running mid-node on the host: it takes no new job until they " +
          "end; `overdue` once past `jobs.interrupt_wait_s` (the host is then `degraded`)",
      }),
    vram_total: z.number().nullable().meta({ description: "GPU memory in bytes; null on a CPU host" }),
    vram_free: z.number().nullable(),
    device_type: z
      .string()
      .nullable()
      .meta({ description: 'ComfyUI\'s device: "cuda", "cpu" (no GPU: VRAM fields are null), "mps"…' }),
    device_name: z.string().nullable(),
    ram_total: z.number().nullable().meta({ description: "System RAM in bytes" }),
    node_classes: count(),
    models: count(),
    jobs_completed: count(),
    jobs_failed: count(),
    avg_job_s: z.number().nullable(),
    last_seen: z.string().nullable(),
    last_error: z.string().nullable(),
    driven_by: z.string().nullable().optional().meta({
      description: "The replica that drives this host (dispatches to it); null while none does (a failover)",
    }),
    handing_over: z
      .literal(true)
      .optional()
      .meta({
        description:
          "Present while its driver hands it to a replica short of hosts: no new work goes there, its running " +
          "prompts finish, then the other replica drives it",
      }),
    model_slots: count().meta({ description: "Checkpoints the host keeps warm (config `model_slots`)" }),
    warm_models: z
      .array(z.string())
      .meta({ description: "Model files believed warm there, most recent first (from /queue and /history)" }),
    speed: z
      .array(
        z.looseObject({
          workflow_id: z.string(),
          unit: z.enum(["step_mp", "job"]).meta({ description: "A sampler step over a megapixel, or a job" }),
          run_ms_per_unit: z
            .number()
            .nullable()
            .meta({ description: "EWMA of run time per unit, load excluded" }),
          run_samples: count(),
          load_ms: z.number().nullable().meta({ description: "EWMA of the time a model load added" }),
          load_samples: count(),
          updated_at: z.string(),
        }),
      )
      .meta({ description: "Learned speed per workflow (survives restarts)" }),
    origin: z.enum(["config", "api", "retired"]).nullable().optional().meta({
      description:
        "`config`: listed in config.yaml; `api`: added through the API; `retired`: left the file, draining",
    }),
    warmup: z
      .looseObject({
        status: z.enum(["running", "completed", "failed"]),
        workflow_id: z.string(),
        started_at: z.string(),
        finished_at: z.string().nullable(),
        error: z.string().nullable(),
        runs: count(),
      })
      .nullable()
      .optional()
      .meta({ description: "The last warm-up run (backends[].warmup), null if none has run" }),
  })
  .meta({ id: "Backend" });
export type Backend = z.infer<typeof BackendSchema>;

export const BackendListSchema = z
  .looseObject({ backends: z.array(BackendSchema) })
  .meta({ id: "BackendList" });

export const HealthSchema = z
  .looseObject({
    status: z.enum(["ok", "degraded", "down"]),
    version: z.string(),
    uptime_s: z.number(),
    database: z.enum(["ok", "locked", "full", "unreachable", "error"]),
    auth: z.enum(["on", "off"]).meta({ description: "`off`: no API key configured, anyone may do anything" }),
    backends: z.looseObject({ online: count(), total: count(), enabled: count() }),
    jobs: z.looseObject({ queued: count(), running: count() }),
    replica: z
      .looseObject({
        id: z.string().meta({ description: "This replica's ha.replica_id" }),
        drives: z.array(z.string()).meta({ description: "The backends whose host lease this replica holds" }),
        replicas: count().meta({ description: "Replicas alive now (heartbeat within ha.lease_s)" }),
      })
      .optional()
      .meta({ description: "Only with replicas on PostgreSQL (database_url)" }),
  })
  .meta({
    id: "Health",
    description: "`ok` when every enabled backend is online; `down` (503) when the database fails",
  });

export const BackendIdParams = z.object({
  id: z.string().min(1).max(200).meta({ description: "The backend id" }),
});

/** POST /api/backends: a backends[] entry of config.yaml. */
export const NewBackendSchema = BackendConfigSchema.meta({
  id: "NewBackend",
  description: "Same fields as a `backends[]` entry in config.yaml",
});

export const BackendPatchSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    capabilities: z.array(z.string().min(1)).optional(),
    weight: z.number().positive().optional(),
    max_inflight: z.number().int().min(1).max(64).nullable().optional().meta({
      description: "null: back to the default (scheduler.max_inflight, or the config.yaml entry's value)",
    }),
    enabled: z.boolean().optional(),
  })
  .meta({
    id: "BackendPatch",
    description: "Scheduling fields; the address (host, port, tls) cannot change",
  });

const FleetChangeSchema = z.object({
  added: z.array(z.string()),
  removed: z.array(z.string()).meta({ description: "Draining, then removed" }),
  changed: z.array(z.string()),
});

export const ReloadResultSchema = z
  .looseObject({
    file: z.string(),
    backends: FleetChangeSchema,
    log_level: z.string(),
    restart_required: z
      .array(z.string())
      .meta({ description: "Changed keys that take effect only after a restart" }),
  })
  .meta({ id: "ReloadResult" });
