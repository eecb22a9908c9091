// Workflow discovery: what exists, whether it loaded, and what each accepts (with a JSON Schema for forms).
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { parametersJsonSchema } from "../../core/engine/parameters.js";
import type { WorkflowDefinition } from "../../core/storage/workflow-definition.js";
import type { WorkflowStorage } from "../../core/storage/workflow-storage.js";
import { errorResponses } from "../schemas/common.js";
import { WorkflowDetailSchema, WorkflowListSchema, WorkflowParams } from "../schemas/fleet.js";

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
    valid: true as const,
  };
}

const TAGS = ["workflows"];

export async function workflowRoutes(
  fastify: FastifyInstance,
  o: { workflows: WorkflowStorage },
): Promise<void> {
  const app = fastify.withTypeProvider<ZodTypeProvider>();
  app.get(
    "/api/workflows",
    {
      config: { role: "read" },
      schema: {
        tags: TAGS,
        summary: "List workflows",
        description: "Every workflow file: loaded ones with their parameters, failed ones with the reasons.",
        response: { 200: WorkflowListSchema.describe("Every workflow"), ...errorResponses() },
      },
    },
    async () => {
      const { valid, invalid } = o.workflows.list();
      return {
        workflows: [
          ...valid.map((wf) => ({ ...summary(wf), parameters: parameterSummary(wf) })),
          ...invalid.map((bad) => ({ id: bad.id, valid: false as const, errors: bad.reasons })),
        ],
      };
    },
  );

  app.get(
    "/api/workflows/:id",
    {
      config: { role: "read" },
      schema: {
        tags: TAGS,
        summary: "Read a workflow",
        description:
          "Its definition without the graph, each parameter's targets, and `parameters_schema`: a JSON Schema " +
          "of what `parameters` accepts (also in this document as `WorkflowParameters_<id>`).",
        params: WorkflowParams,
        response: {
          200: WorkflowDetailSchema.describe("The workflow"),
          ...errorResponses("WORKFLOW_NOT_FOUND", "WORKFLOW_INVALID"),
        },
      },
    },
    async (req) => {
      const wf = o.workflows.get(req.params.id); // 404 unknown, 409 failed to load (with its reasons)
      const params = parameterSummary(wf);
      return {
        ...summary(wf),
        parameters: Object.fromEntries(
          Object.entries(wf.parameters).map(([n, p]) => [n, { ...params[n]!, targets: p.targets }]),
        ),
        parameters_schema: parametersJsonSchema(wf) as Record<string, unknown>,
      };
    },
  );
}
