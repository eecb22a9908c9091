// The HTTP floor for the API scenarios: the same Fastify, in its own process, answering POST /api/job and
// GET /api/job/:id with replies of the same shape and size as Orchestrator's, but with no validation, no
// SQLite and no scheduling. `npx tsx bench/baselines/bare-server.ts --port P`.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import Fastify from "fastify";

const { values } = parseArgs({ options: { port: { type: "string", default: "0" } } });

// A job view as Orchestrator returns it for a queued txt2img job (field for field, similar size).
const view = (id: string) => ({
  job_id: id,
  status: "queued",
  workflow_id: "txt2img_basic",
  workflow_version: "0123456789abcdef",
  parameters: {
    prompt: "seeded job 1",
    negative_prompt: "blurry, low quality",
    seed: 1,
    steps: 20,
    cfg: 7,
    sampler_name: "euler",
    width: 512,
    height: 512,
    checkpoint: "sd_xl_base_1.0.safetensors",
  },
  priority: 0,
  backend_id: null,
  prompt_id: null,
  attempt: 0,
  max_attempts: 3,
  progress: null,
  error: null,
  outputs: [],
  outputs_expired: false,
  attempts: [],
  metadata: null,
  idempotency_key: null,
  timeout_s: 900,
  created_at: new Date().toISOString(),
  updated_at: new Date().toISOString(),
  started_at: null,
  finished_at: null,
});

const app = Fastify({ logger: false });
app.post("/api/job", async (req, reply) => {
  if (typeof req.body !== "object" || req.body === null) return reply.code(400).send({ error: "body" });
  const id = randomUUID();
  return reply.code(202).send({
    job_id: id,
    status: "queued",
    message: "Job queued for execution",
    created: true,
    url: `http://${req.host}/api/job/${id}`,
  });
});
app.get("/api/job/:id", async (req) => view((req.params as { id: string }).id));
app.get("/api/health", async () => ({ status: "ok" }));

const url = await app.listen({ host: "127.0.0.1", port: Number(values.port) });
console.log(`bare server listening on ${url}`);
const stop = () => void app.close().then(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
