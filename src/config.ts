// config.yaml → a validated, typed Config. zod is the single source of truth for every key and default;
// a bad file stops start-up with one line per problem naming its key path.
import { readFileSync } from "node:fs";
import path from "node:path";
import { parseDocument } from "yaml";
import { z } from "zod";
import {
  AuthConfigSchema,
  BackendCredentialsShape,
  CorsOriginsSchema,
  credentialsConflict,
} from "./config-auth.js";
import { coerceAt, expandEnv } from "./config-env.js";
import { formatKeyPath } from "./config-path.js";

export { formatKeyPath };

const portSchema = (min: number) => {
  const error = (i: { input?: unknown }) => `expected integer ${min}..65535, got ${JSON.stringify(i.input)}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(65535, { error });
};
const port = portSchema(1);
/** 0 lets the OS pick a free port (used by tests). */
const listenPort = portSchema(0);
const seconds = z.number().positive();

export const BackendConfigSchema = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, "expected 1-64 letters, digits, '_', '.' or '-'"),
    name: z.string().min(1).optional(),
    host: z.string().min(1),
    port: port.default(8188),
    /** http or https; ComfyUI itself only speaks http, but hosts are often behind a TLS proxy. */
    tls: z.boolean().default(false),
    enabled: z.boolean().default(true),
    capabilities: z.array(z.string().min(1)).default([]),
    /** Our prompts a host may hold at once: one running and one waiting keeps its GPU from idling. */
    max_inflight: z.number().int().min(1).max(64).optional(),
    /** Tie-breaker between equally loaded hosts; a higher weight is preferred. */
    weight: z.number().positive().default(1),
    /** Checkpoints the host keeps warm at once (ComfyUI keeps its last prompt's: 1). */
    model_slots: z.number().int().min(1).max(16).default(1),
    /** A workflow run once whenever the host comes online, so its first real job does not pay a cold start. */
    warmup: z
      .strictObject({
        workflow_id: z.string().min(1),
        parameters: z.record(z.string(), z.unknown()).default({}),
        timeout_s: z.number().positive().default(600),
      })
      .optional(),
    ...BackendCredentialsShape,
  })
  .refine((b) => !credentialsConflict(b), {
    message: "give either basic_auth or an Authorization header, not both",
    path: ["basic_auth"],
  });

export const ConfigSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).default("0.0.0.0"),
      port: listenPort.default(8080),
      body_limit_mb: z.number().positive().max(1024).default(25),
      /** Upper bound for `POST /api/job?wait=SECONDS`. */
      max_wait_s: seconds.default(300),
      /** Public base URL used in output links; defaults to the request's own host. */
      public_url: z.url().optional(),
      /** Browser origins allowed to call the API (CORS); empty, the default, sends no CORS headers. */
      cors_origins: CorsOriginsSchema,
    })
    .prefault({}),
  data_dir: z.string().min(1).default("./data"),
  workflows_dir: z.string().min(1).optional(),
  log_dir: z.string().min(1).default("./logs"),
  log_level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** log_dir files: a new one past size_mb and/or each day (hour); only the newest `keep` rotated ones stay. */
  log_rotation: z
    .strictObject({
      size_mb: z.number().min(0).default(100),
      frequency: z.enum(["daily", "hourly", "none"]).default("daily"),
      keep: z.number().int().min(1).max(1000).default(14),
    })
    .prefault({}),
  database_path: z.string().min(1).default("./data/orchestrator.db"),
  /** PostgreSQL instead of SQLite (postgres://user:password@host:5432/db): what several replicas share. */
  database_url: z
    .string()
    .regex(/^postgres(ql)?:\/\/[^/]/, "must be a postgres:// or postgresql:// URL")
    .optional(),
  /** Several replicas on one PostgreSQL (database_url); ignored on SQLite, which allows one server. */
  ha: z
    .strictObject({
      /** A replica that stops renewing its host leases loses them this long after its last renewal. */
      lease_s: seconds.default(10),
      /** This replica's name in /api/health and in host leases (default: host name and process id). */
      replica_id: z.string().min(1).max(128).optional(),
      /** The longest one database statement may take before it counts as a storage failure. */
      statement_timeout_s: seconds.default(10),
    })
    .prefault({}),
  scheduler: z
    .strictObject({
      poll_interval_s: seconds.default(2),
      offline_after: z.number().int().min(1).default(3),
      max_inflight: z.number().int().min(1).max(64).default(2),
      queue_timeout_s: seconds.default(3600),
      /** A host whose answers take longer than this is `degraded`. */
      slow_response_ms: z.number().int().positive().default(2000),
      /** A host's next prompt is sent when its running one is about this close to done (0: at once). */
      next_prompt_lead_ms: z.number().int().min(0).default(250),
      /** expected_completion: the host that would finish the job first, model loads and speed included;
       * least_queue: the host with the fewest prompts ahead. */
      policy: z.enum(["expected_completion", "least_queue"]).default("expected_completion"),
      /** After waiting this long, a job is no longer passed over for jobs whose model is warm. */
      aging_s: seconds.default(60),
      /** A model load's cost assumed on a host until one has been measured there. */
      model_load_estimate_s: z.number().min(0).default(10),
      /** A job's run time per unit of work (step × megapixel, or per job) assumed until measured. */
      run_estimate_ms_per_unit: z.number().positive().default(500),
    })
    .prefault({}),
  jobs: z
    .strictObject({
      job_timeout_s: seconds.default(1800),
      max_attempts: z.number().int().min(1).max(20).default(3),
      retry_backoff_s: seconds.default(1),
      recovery_grace_s: seconds.default(30),
      /** How long a prompt may go without any event before we ask the host's /history about it. */
      silence_check_s: seconds.default(15),
      idempotency_ttl_h: seconds.default(24),
      list_limit_max: z.number().int().min(1).max(1000).default(200),
      /**
       * A cancelled or timed-out prompt that is mid-node keeps its host busy until the host reports its end;
       * past this wait the host is treated as unhealthy (degraded) until the prompt leaves its queue.
       */
      interrupt_wait_s: seconds.default(60),
      /**
       * Live previews: ComfyUI sends none unless a prompt asks (extra_data.preview_method). `when_subscribed`
       * asks when a WebSocket client is following the job (or all jobs) with previews at dispatch time.
       */
      previews: z
        .strictObject({
          request: z.enum(["when_subscribed", "always", "never"]).default("when_subscribed"),
          method: z.enum(["auto", "latent2rgb", "taesd"]).default("auto"),
        })
        .prefault({}),
    })
    .prefault({}),
  http: z
    .strictObject({
      /** Timeout of one HTTP call to a ComfyUI host (uploads and downloads get `transfer_timeout_s`). */
      request_timeout_s: seconds.default(10),
      transfer_timeout_s: seconds.default(300),
    })
    .prefault({}),
  webhooks: z
    .strictObject({
      /** HMAC-SHA256 key of `X-Orchestrator-Signature`. Required as soon as any host is allowed. */
      secret: z.string().min(16, "expected at least 16 characters").optional(),
      /**
       * Hostnames a manifest's webhook_url may point at: "hooks.example.com", "*.example.com" (subdomains)
       * or "*" (any). Empty, the default, turns webhooks off: an open list would let any client make this
       * server POST into the private network.
       */
      allowed_hosts: z.array(z.string().min(1).toLowerCase()).default([]),
      max_attempts: z.number().int().min(1).max(50).default(8),
      /** First retry delay; doubles per attempt, with jitter. */
      backoff_s: seconds.default(2),
      timeout_s: seconds.default(10),
    })
    .refine((w) => w.allowed_hosts.length === 0 || w.secret !== undefined, {
      path: ["secret"],
      message: "required when webhooks.allowed_hosts is set (deliveries are always signed)",
    })
    .prefault({}),
  retention: z
    .strictObject({
      /** Files of jobs finished longer ago than this are deleted; 0 keeps them forever. */
      output_retention_days: z.number().min(0).default(7),
      sweep_interval_s: seconds.default(3600),
    })
    .prefault({}),
  /** Live job events for clients (WebSocket /api/ws and SSE /api/job/:id/events). */
  events: z
    .strictObject({
      /** WebSocket ping (SSE comment) interval; a socket that did not answer the previous ping is dropped. */
      ping_interval_s: seconds.default(30),
      /** Above this much unsent data for one client, only the latest progress and preview per job is kept. */
      coalesce_buffer_kb: z.number().int().positive().default(64),
      /** Above this much unsent data a client is disconnected (close code 1008) instead of slowing us down. */
      max_buffer_kb: z.number().int().positive().default(4096),
    })
    .refine((e) => e.coalesce_buffer_kb < e.max_buffer_kb, {
      message: "coalesce_buffer_kb must be below max_buffer_kb",
      path: ["coalesce_buffer_kb"],
    })
    .prefault({}),
  /** Input images of `type: image` parameters: base64, data: URLs, multipart files and http(s) URLs. */
  media: z
    .strictObject({
      /** Largest input image in any form. A base64 image in a JSON body is also bound by server.body_limit_mb. */
      max_image_mb: z.number().positive().max(1024).default(20),
      /** Deadline for fetching one image URL, redirects and body included. */
      url_timeout_s: seconds.default(15),
      /**
       * Hostnames or IP addresses image URLs may reach even if they are loopback, private or link-local
       * (refused by default: a client must not make this server fetch from the internal network).
       */
      url_allowlist: z.array(z.string().min(1).toLowerCase()).default([]),
    })
    .prefault({}),
  backends: z.array(BackendConfigSchema).default([]),
  /** API keys, roles and per-key limits (README "Access control"). */
  auth: AuthConfigSchema,
});

export type Config = z.infer<typeof ConfigSchema>;
export type BackendConfig = z.infer<typeof BackendConfigSchema>;

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${file}:\n${problems.map((p) => `  ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * Validates a parsed config object; relative paths resolve against `baseDir` (the config file's folder).
 * `${VAR}` in any value is replaced from `env` first.
 */
export function parseConfig(
  raw: unknown,
  file: string,
  baseDir: string,
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const expanded = expandEnv(raw ?? {}, env);
  if (expanded.problems.length > 0) throw new ConfigError(file, expanded.problems);
  let parsed = ConfigSchema.safeParse(expanded.value);
  // `port: ${PORT}` is a string once expanded: convert where the schema wanted a number or boolean.
  const coerced = parsed.error?.issues.filter(
    (i) =>
      i.code === "invalid_type" &&
      expanded.whole.has(formatKeyPath(i.path)) &&
      coerceAt(expanded.value, i.path, i.expected),
  );
  if (coerced?.length) parsed = ConfigSchema.safeParse(expanded.value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      if (i.code === "unrecognized_keys") {
        return i.keys.map((k) => `${formatKeyPath([...i.path, k])}: unknown key`).join("\n  ");
      }
      return `${formatKeyPath(i.path)}: ${i.message}`;
    });
    throw new ConfigError(file, problems);
  }
  const config = parsed.data;
  const problems: string[] = [];
  const seen = new Map<string, number>();
  config.backends.forEach((b, i) => {
    const first = seen.get(b.id);
    if (first !== undefined)
      problems.push(`backends[${i}].id: duplicate id "${b.id}" (also backends[${first}])`);
    else seen.set(b.id, i);
  });
  if (problems.length > 0) throw new ConfigError(file, problems);

  const resolve = (p: string) => path.resolve(baseDir, p);
  config.data_dir = resolve(config.data_dir);
  config.log_dir = resolve(config.log_dir);
  config.database_path = resolve(config.database_path);
  config.workflows_dir = config.workflows_dir
    ? resolve(config.workflows_dir)
    : path.join(config.data_dir, "workflows");
  return config;
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(file, [`cannot read file: ${(err as Error).message}`]);
  }
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => `line ${e.linePos?.[0]?.line ?? "?"}: ${e.message.split("\n")[0]}`),
    );
  }
  return parseConfig(doc.toJS(), file, path.dirname(path.resolve(file)));
}

/** `--config PATH`, then ORCHESTRATOR_CONFIG, then ./config.yaml. */
export function configPathFrom(argv: readonly string[], env: NodeJS.ProcessEnv): string {
  const i = argv.indexOf("--config");
  if (i >= 0 && argv[i + 1]) return argv[i + 1]!;
  const eq = argv.find((a) => a.startsWith("--config="));
  if (eq) return eq.slice("--config=".length);
  return env.ORCHESTRATOR_CONFIG || "config.yaml";
}
