// Workflow discovery: what exists, whether it loaded, and what each accepts (with a JSON Schema for forms).
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { parametersJsonSchema } from "../../core/engine/parameters.js";
import type { WorkflowDefinition } from "../../core/storage/workflow-definition.js";
import type { WorkflowStorage } from "../../core/storage/workflow-storage.js";
import { parseOrThrow } from "../error-handler.js";

function parameterSummary(wf: WorkflowDefinition) {
  return Object.fromEntries(
    Object.entries(wf.parameters).map(([name, p]) => [
      name,
      {
        type: p.type,
        required: p.required,
        ...(p.default !== undefined ? { default: p.default } : {}),
        ...(p.min !== undefined ? { min: p.min } : {}),
        ...(p.max !== undefined ? { max: p.max } : {}),
        ...(p.choices ? { choices: p.choices } : {}),
        ...(p.description ? { description: p.description } : {}),
      },
    ]),
  );
}

function summary(wf: WorkflowDefinition) {
  return {
    id: wf.id,
    name: wf.name,
    description: wf.description ?? null,
    format: wf.format,
    version: wf.version,
    requires: wf.requires,
    min_vram_gb: wf.min_vram_gb ?? null,
    timeout_s: wf.timeout_s ?? null,
    valid: true,
  };
}

export async function workflowRoutes(app: FastifyInstance, o: { workflows: WorkflowStorage }): Promise<void> {
  app.get("/api/workflows", async () => {
    const { valid, invalid } = o.workflows.list();
    return {
      workflows: [
        ...valid.map((wf) => ({ ...summary(wf), parameters: parameterSummary(wf) })),
        ...invalid.map((bad) => ({ id: bad.id, valid: false, errors: bad.reasons })),
      ],
    };
  });

  app.get("/api/workflows/:id", async (req) => {
    const { id } = parseOrThrow(z.object({ id: z.string().min(1) }), req.params, "params");
    const wf = o.workflows.get(id); // 404 unknown, 409 failed to load (with its reasons)
    const params = parameterSummary(wf);
    return {
      ...summary(wf),
      parameters: Object.fromEntries(
        Object.entries(wf.parameters).map(([n, p]) => [n, { ...params[n], targets: p.targets }]),
      ),
      parameters_schema: parametersJsonSchema(wf),
    };
  });
}
