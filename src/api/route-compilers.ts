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
  const wantsObject =
    schema instanceof z.ZodObject ||
    (schema instanceof z.ZodUnion && schema.options.every((x) => x instanceof z.ZodObject));
  return (data: unknown) => {
    if (part === "body" && wantsObject && !isPlainObject(data)) {
      return {
        error: new AppError("VALIDATION_FAILED", "The body must be a JSON object", {
          fields: [{ field: "body", message: "expected a JSON object" }],
        }),
      };
    }
    const r = schema.safeParse(data);
    return r.success
      ? { value: r.data }
      : { error: validationError(pathsOf(part, branchIssues(r.error.issues)), prefix) };
  };
};

/**
 * A body that fits no option of a union (the submit's manifest or project) gets the problems of the option
 * it was meant for: the one with the fewest top-level problems (missing or unknown keys), the first on a tie.
 */
function branchIssues(issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  const only = issues.length === 1 ? issues[0] : undefined;
  if (only?.code !== "invalid_union" || only.path.length > 0 || only.errors.length === 0) return issues;
  const topLevel = (branch: z.core.$ZodIssue[]) =>
    branch.filter((i) => i.path.length <= 1 && (i.code === "unrecognized_keys" || i.code === "invalid_type"))
      .length;
  let best = only.errors[0]!;
  for (const branch of only.errors) if (topLevel(branch) < topLevel(best)) best = branch;
  return best;
}

/** In a body, an array index joins its array's name (`project.nodes[2].count`), as the submit's own checks write it. */
function pathsOf(part: string, issues: z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  if (part !== "body") return issues;
  return issues.map((i) => ({
    ...i,
    path: i.path.reduce<PropertyKey[]>((out, seg) => {
      if (typeof seg === "number" && out.length > 0) out[out.length - 1] = `${String(out.at(-1))}[${seg}]`;
      else out.push(seg);
      return out;
    }, []),
  }));
}

export { serializerCompiler };
