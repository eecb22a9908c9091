// The API's OpenAPI 3.1 document, generated from the routes' zod schemas, served at GET /api/openapi.json,
// and the interactive docs at /docs (Swagger UI, its assets served from node_modules: works offline).
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import type { FastifyInstance } from "fastify";
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  type ZodTypeProvider,
} from "fastify-type-provider-zod";
import { z } from "zod";
import { parametersJsonSchema } from "../core/engine/parameters.js";
import type { WorkflowStorage } from "../core/storage/workflow-storage.js";
import { ERRORS } from "../errors.js";
import { SECURITY_SCHEMES } from "./auth/access-control.js";

export interface OpenApiOptions {
  version: string;
  workflows: WorkflowStorage;
}

const DESCRIPTION = `Runs ComfyUI image-generation jobs on a fleet of GPU hosts behind one HTTP API.

Every error is \`{"error": {"code", "message", "details"}}\` with a stable \`code\`; a 400 lists every field at
fault in \`details.fields[].field\`. Codes: ${Object.entries(ERRORS)
  .map(([code, e]) => `\`${code}\` (${e.status})`)
  .join(", ")}.

Live events: \`GET /api/ws\` (WebSocket, schemas \`WsClientMessage\` and \`WsServerMessage\`) and
\`GET /api/job/{id}/events\` (Server-Sent Events, each frame's data a \`JobEvent\`). Each workflow's parameters
are described by \`WorkflowParameters_<id>\`.`;

type Doc = Record<string, unknown> & { components?: { schemas?: Record<string, unknown> } };

/** Must be registered before the routes: the document is built from the routes registered after it. */
export async function registerOpenApi(app: FastifyInstance, o: OpenApiOptions): Promise<void> {
  await app.register(fastifySwagger, {
    openapi: {
      openapi: "3.1.0",
      info: { title: "Orchestrator", version: o.version, description: DESCRIPTION },
      components: { securitySchemes: SECURITY_SCHEMES },
      tags: [
        { name: "jobs", description: "Submit, read, list, cancel, download" },
        { name: "events", description: "Live job events (WebSocket and SSE)" },
        { name: "workflows", description: "What can run and what it accepts" },
        { name: "backends", description: "The ComfyUI hosts and their control" },
        { name: "health", description: "Liveness and a one-glance summary" },
        { name: "keys", description: "API keys made at run time (admin)" },
        { name: "admin", description: "Operator actions on the server (config reload)" },
        { name: "meta", description: "This document" },
      ],
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });

  // The workflows can be reloaded at run time, so their parameter schemas join the document per request.
  const complete = (doc: Doc): Doc => {
    const schemas: Record<string, unknown> = { ...doc.components?.schemas };
    for (const wf of o.workflows.list().valid) {
      const { $schema: _drop, ...schema } = parametersJsonSchema(wf) as Record<string, unknown>;
      schemas[`WorkflowParameters_${wf.id}`] = {
        ...schema,
        description: `The parameters of workflow "${wf.id}" (${wf.name})`,
      };
    }
    return pruneUnused({ ...withMultipartSubmit(doc), components: { ...doc.components, schemas } });
  };

  app.after(() => {
    app.withTypeProvider<ZodTypeProvider>().get(
      "/api/openapi.json",
      {
        // Public like /docs: a client may read the document before it has a key.
        config: { role: "public" },
        schema: {
          tags: ["meta"],
          summary: "This OpenAPI 3.1 document",
          response: { 200: z.record(z.string(), z.unknown()).describe("OpenAPI 3.1 document") },
        },
      },
      async () => complete(app.swagger() as unknown as Doc),
    );
  });

  await app.register(fastifySwaggerUi, {
    routePrefix: "/docs",
    uiConfig: { deepLinking: true, docExpansion: "list" },
    transformSpecification: (spec) => complete(spec as Doc),
  });
}

/** zod describes one body per route; the submit also takes the manifest as a multipart part plus files. */
function withMultipartSubmit(doc: Doc): Doc {
  const paths = doc.paths as
    | Record<string, Record<string, { requestBody?: { content?: object } }>>
    | undefined;
  const submit = paths?.["/api/job"]?.post;
  if (!paths || !submit?.requestBody) return doc;
  const multipart = {
    schema: {
      type: "object",
      required: ["manifest"],
      properties: {
        manifest: { type: "string", description: "The job manifest as JSON (same schema as the JSON body)" },
      },
      additionalProperties: {
        type: "string",
        format: "binary",
        description: "One file part per image parameter, named after the parameter",
      },
    },
    encoding: { manifest: { contentType: "application/json" } },
  };
  const requestBody = {
    ...submit.requestBody,
    content: { ...submit.requestBody.content, "multipart/form-data": multipart },
  };
  return {
    ...doc,
    paths: { ...paths, "/api/job": { ...paths["/api/job"], post: { ...submit, requestBody } } },
  };
}

/**
 * The zod provider emits every named schema twice (an input and an output variant); the input variants that
 * no request uses are dropped so the reference lists only what the API speaks.
 */
function pruneUnused(doc: Doc): Doc {
  const schemas = doc.components?.schemas ?? {};
  const keep = new Set(Object.keys(schemas).filter((name) => !name.endsWith("Input")));
  const refs = (value: unknown) => {
    for (const m of JSON.stringify(value).matchAll(/"#\/components\/schemas\/([^"]+)"/g)) {
      const name = decodeURIComponent(m[1]!);
      if (!keep.has(name)) {
        keep.add(name);
        refs(schemas[name]);
      }
    }
  };
  refs(doc.paths);
  for (const name of [...keep]) refs(schemas[name]);
  const kept = Object.fromEntries(Object.entries(schemas).filter(([name]) => keep.has(name)));
  return { ...doc, components: { ...doc.components, schemas: kept } };
}
