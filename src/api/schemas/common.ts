// Shapes every route shares: the error body, id parameters, and the per-route list of error codes that
// becomes each route's documented 4xx/5xx responses.
import { z } from "zod";
import { ERRORS, type ErrorCode } from "../../errors.js";

export const FieldProblemSchema = z
  .looseObject({
    field: z.string().meta({ description: "Dotted path of the field at fault, e.g. `parameters.steps`" }),
    message: z.string(),
  })
  .meta({ id: "FieldProblem" });

/**
 * `code` stays a plain string here (the codes a route can answer are listed in its responses): a schema that
 * enumerated them would turn every newly added code into a serialization failure.
 */
export const ErrorSchema = z
  .object({
    error: z.looseObject({
      code: z.string().meta({ description: "Stable machine-readable code, e.g. `VALIDATION_FAILED`" }),
      message: z.string().meta({ description: "One line for a human" }),
      details: z
        .looseObject({
          fields: z
            .array(FieldProblemSchema)
            .optional()
            .meta({ description: "On 400s: every field at fault" }),
        })
        .meta({ description: "Code-specific context (the field, limits, available names...)" }),
    }),
  })
  .meta({
    id: "Error",
    description: 'Every 4xx and 5xx: `{"error": {"code", "message", "details"}}`',
    examples: [
      {
        error: {
          code: "VALIDATION_FAILED",
          message: "Invalid request: workflow_id: Invalid input: expected string, received undefined",
          details: {
            fields: [{ field: "workflow_id", message: "Invalid input: expected string, received undefined" }],
          },
        },
      },
    ],
  });
export type ErrorBody = z.infer<typeof ErrorSchema>;

/** Answered by any route that validates its input. */
const VALIDATION: ErrorCode[] = ["VALIDATION_FAILED"];

/**
 * The documented error responses of one route: one entry per status, listing its codes. Every route also
 * documents 500 INTERNAL and 503 SHUTTING_DOWN, which any request can meet.
 */
export function errorResponses(...codes: ErrorCode[]): Record<number, z.ZodType> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of [
    ...VALIDATION,
    ...codes,
    "INTERNAL",
    "SHUTTING_DOWN",
    "STORAGE_UNAVAILABLE",
  ] as ErrorCode[]) {
    const status = ERRORS[code].status;
    const list = byStatus.get(status) ?? [];
    if (!list.includes(code)) list.push(code);
    byStatus.set(status, list);
  }
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      status,
      ErrorSchema.describe(list.map((c) => `\`${c}\`: ${ERRORS[c].message}`).join("; ")),
    ]),
  );
}

export const JobIdParams = z.object({
  id: z.string().min(1).max(200).meta({ description: "The job id (`job_id` of the submit answer)" }),
});
