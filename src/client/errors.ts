// What the client throws: the server's own error (status, code, details) or a failure to reach it.
import type { FieldProblem } from "./types.js";

/** The server answered with an error body: `{"error": {"code", "message", "details"}}`. */
export class OrchestratorError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "OrchestratorError";
  }

  /** The fields at fault, on a 400. */
  get fields(): FieldProblem[] {
    const f = this.details.fields;
    return Array.isArray(f) ? (f as FieldProblem[]) : [];
  }
}

/** No answer: the server is down, unreachable, or too slow (`timeout`). */
export class ConnectionError extends Error {
  constructor(
    readonly url: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ConnectionError";
  }
}
