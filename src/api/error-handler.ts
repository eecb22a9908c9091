// The one place errors become HTTP responses: {"error": {"code", "message", "details"}}. Client mistakes
// keep their 4xx; anything unexpected is a 500 with no internals, logged with its stack.
import type { FastifyError, FastifyInstance } from "fastify";
import type { z } from "zod";
import { AppError, ERRORS, type ErrorCode, type FieldProblem } from "../errors.js";

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: "MALFORMED_JSON",
  FST_ERR_CTP_EMPTY_JSON_BODY: "MALFORMED_JSON",
  FST_ERR_CTP_BODY_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UNSUPPORTED_MEDIA_TYPE",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "VALIDATION_FAILED",
};

export function errorBody(code: ErrorCode | string, message: string, details: unknown = {}) {
  return { error: { code, message, details } };
}

/**
 * `storageError` turns a database failure (locked, disk full) into its 503; it is given by the server,
 * which knows the database's health.
 */
export function installErrorHandler(
  app: FastifyInstance,
  storageError: (err: unknown) => AppError | null = () => null,
): void {
  app.setErrorHandler((thrown: FastifyError | AppError | Error, req, reply) => {
    const err = thrown instanceof AppError ? thrown : (storageError(thrown) ?? thrown);
    if (err instanceof AppError) {
      if (err.status >= 500 && err.code !== "SHUTTING_DOWN") req.log.error({ err }, err.message);
      // Errors that pass by themselves say when to come back.
      const retry = (err.details as { retry_after_s?: unknown } | null)?.retry_after_s;
      if (err.status === 503 && typeof retry === "number") reply.header("retry-after", String(retry));
      return reply.code(err.status).send(errorBody(err.code, err.message, err.details));
    }
    const fe = err as FastifyError;
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) {
      const details = mapped === "MALFORMED_JSON" ? { field: "body", reason: fe.message } : { field: "body" };
      return reply
        .code(ERRORS[mapped].status)
        .send(
          errorBody(
            mapped,
            mapped === "MALFORMED_JSON" ? `${ERRORS[mapped].message}: ${fe.message}` : ERRORS[mapped].message,
            details,
          ),
        );
    }
    if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.code(fe.statusCode).send(errorBody(fe.code ?? "BAD_REQUEST", fe.message, {}));
    }
    if (fe.code === "FST_ERR_RESPONSE_SERIALIZATION") {
      // A route sent a body its schema (and so the OpenAPI document) does not describe: a bug of ours.
      const issues = (err.cause as { issues?: unknown } | undefined)?.issues;
      req.log.error({ err, issues, url: req.url }, "response does not match its route schema");
      return reply.code(500).send(errorBody("INTERNAL", ERRORS.INTERNAL.message));
    }
    req.log.error({ err }, "unhandled error");
    return reply.code(500).send(errorBody("INTERNAL", ERRORS.INTERNAL.message));
  });
  app.setNotFoundHandler((req, reply) => {
    reply.code(404).send(
      errorBody("NOT_FOUND", `No route ${req.method} ${req.url.split("?")[0]}`, {
        method: req.method,
        path: req.url.split("?")[0],
      }),
    );
  });
}

/** Parses with a zod schema or throws a 400 listing every problem with the field path (prefixed). */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  data: unknown,
  prefix: string,
  code: ErrorCode = "VALIDATION_FAILED",
): z.infer<S> {
  const r = schema.safeParse(data);
  if (r.success) return r.data;
  throw validationError(r.error.issues, prefix, code);
}

/** zod issues as our 400: one `details.fields` entry per problem, each field path prefixed. */
export function validationError(
  issues: readonly z.core.$ZodIssue[],
  prefix: string,
  code: ErrorCode = "VALIDATION_FAILED",
): AppError {
  const fields: FieldProblem[] = issues.flatMap((i): FieldProblem[] => {
    const base = [prefix, ...i.path.map(String)].filter(Boolean).join(".");
    if (i.code === "unrecognized_keys") {
      return i.keys.map((k) => ({ field: [base, k].filter(Boolean).join("."), message: "unknown field" }));
    }
    return [{ field: base || prefix || "(body)", message: i.message }];
  });
  return new AppError(
    code,
    `Invalid ${prefix || "request"}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`,
    { fields },
  );
}
