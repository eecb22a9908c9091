// The one error catalogue: every error a client can see has a stable code, an HTTP status and a message.
// The API's error handler (src/api/error-handler.ts) is the only place that turns these into responses.

export const ERRORS = {
  VALIDATION_FAILED: { status: 400, message: "The request is invalid" },
  BAD_REQUEST: { status: 400, message: "The request is not valid HTTP" },
  REQUEST_TIMEOUT: { status: 408, message: "The request took too long to arrive" },
  HEADERS_TOO_LARGE: { status: 431, message: "The request headers are too large" },
  MALFORMED_JSON: { status: 400, message: "The request body is not valid JSON" },
  UNAUTHENTICATED: { status: 401, message: "A valid API key is required" },
  FORBIDDEN: { status: 403, message: "This API key's role does not allow this request" },
  PARAMETER_INVALID: { status: 400, message: "One or more parameters are invalid" },
  MEDIA_INVALID: { status: 400, message: "An input image could not be used" },
  WORKFLOW_REJECTED: { status: 400, message: "ComfyUI rejected the workflow" },
  NOT_FOUND: { status: 404, message: "No such route" },
  WORKFLOW_NOT_FOUND: { status: 404, message: "Workflow not found" },
  JOB_NOT_FOUND: { status: 404, message: "Job not found" },
  OUTPUT_NOT_FOUND: { status: 404, message: "Output not found" },
  BACKEND_NOT_FOUND: { status: 404, message: "Backend not found" },
  KEY_NOT_FOUND: { status: 404, message: "API key not found" },
  METHOD_NOT_ALLOWED: { status: 405, message: "Method not allowed" },
  JOB_FINISHED: { status: 409, message: "The job has already finished" },
  UPGRADE_REQUIRED: { status: 426, message: "This endpoint speaks WebSocket only" },
  JOB_NOT_FINISHED: { status: 409, message: "The job has not finished yet" },
  KEY_CONFLICT: { status: 409, message: "The API key cannot be changed this way" },
  AUTH_OFF: { status: 409, message: "Access control is off: configure auth.keys first" },
  BACKEND_EXISTS: { status: 409, message: "A backend with this id already exists" },
  BACKEND_REMOVING: { status: 409, message: "The backend is being removed" },
  CONFIG_INVALID: { status: 400, message: "The configuration file is invalid" },
  WORKFLOW_INVALID: { status: 409, message: "The workflow definition is invalid" },
  OUTPUTS_EXPIRED: { status: 410, message: "The job's outputs have been deleted" },
  PAYLOAD_TOO_LARGE: { status: 413, message: "The request body is too large" },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: "Unsupported content type" },
  RANGE_NOT_SATISFIABLE: { status: 416, message: "The requested range cannot be served" },
  NO_CAPABLE_BACKEND: { status: 422, message: "No configured backend can run this workflow" },
  RATE_LIMITED: { status: 429, message: "Too many requests for this API key" },
  QUOTA_EXCEEDED: { status: 429, message: "This API key has too many unfinished jobs" },
  OUTPUT_NOT_CONVERTIBLE: { status: 422, message: "The output could not be converted" },
  SHUTTING_DOWN: { status: 503, message: "The server is shutting down" },
  STORAGE_UNAVAILABLE: { status: 503, message: "The job database cannot take writes right now" },
  INTERNAL: { status: 500, message: "Internal error" },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** Codes that end a job but never come from a client request (recorded in a job's `error`). */
export type JobErrorCode =
  | "EXECUTION_ERROR"
  | "WORKFLOW_REJECTED"
  | "TIMEOUT"
  | "QUEUE_TIMEOUT"
  | "ATTEMPTS_EXHAUSTED"
  | "REJECTED_BY_ALL_BACKENDS"
  | "CANCELLED"
  | "MEDIA_INVALID"
  | "WORKFLOW_NOT_FOUND"
  | "OUTPUT_DOWNLOAD_FAILED"
  | "INTERNAL";

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: unknown;

  constructor(code: ErrorCode, message?: string, details: unknown = {}) {
    super(message ?? ERRORS[code].message);
    this.name = "AppError";
    this.code = code;
    this.status = ERRORS[code].status;
    this.details = details;
  }
}

/** One problem with one field, the shape of every entry in a 400's `details.fields`. */
export interface FieldProblem {
  field: string;
  message: string;
}
