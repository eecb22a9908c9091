// Fastify's validator and serializer compilers for zod route schemas. Validation failures become our own
// 400 (VALIDATION_FAILED, `details.fields[].field` prefixed by the request part), exactly as hand-written
// parsing reported them; responses are encoded through their schema, so a route cannot send a body its
// OpenAPI document does not describe.
import type { FastifySchemaCompiler } from "fastify";
import { serializerCompiler } from "fastify-type-provider-zod";
import { z } from "zod";
import { AppError } from "../errors.js";
import { validationError } from "./error-handler.js";

/** The prefix of a field path per request part, as clients already see it (`query.limit`, `params.id`). */
const PREFIX: Record<string, string> = {
  params: "params",
  querystring: "query",
  headers: "headers",
  body: "",
};

const isPlainObject = (v: unknown) => v !== null && typeof v === "object" && !Array.isArray(v);

export const validatorCompiler: FastifySchemaCompiler<z.ZodType> = ({ schema, httpPart, method, url }) => {
  if (!(schema instanceof z.ZodType))
    throw new Error(`${method} ${url}: route schemas must be zod schemas (src/api/schemas/), got plain JSON`);
  const part = httpPart ?? "body";
  const prefix = PREFIX[part] ?? part;
  const wantsObject = schema instanceof z.ZodObject;
  return (data: unknown) => {
    if (part === "body" && wantsObject && !isPlainObject(data)) {
      return {
        error: new AppError("VALIDATION_FAILED", "The body must be a JSON object", {
          fields: [{ field: "body", message: "expected a JSON object" }],
        }),
      };
    }
    const r = schema.safeParse(data);
    return r.success ? { value: r.data } : { error: validationError(r.error.issues, prefix) };
  };
};

export { serializerCompiler };
