// Reads ComfyUI's failure reports: which are the workflow's fault (fail the job), which are the host's
// (a missing node class or model: try another host) and which are out-of-memory (try a bigger host).
import type { JobError } from "../models.js";

interface NodeError {
  class_type?: string;
  errors?: { type?: string; message?: string; details?: string; extra_info?: { input_name?: string } }[];
}

const MODEL_INPUT = /_name$/;

export function classifyRejection(
  body: unknown,
  message: string,
): { error: JobError; hostSpecific: boolean } {
  const b = (body ?? {}) as {
    error?: { type?: string; message?: string } | string;
    node_errors?: Record<string, NodeError>;
  };
  const type = typeof b.error === "object" ? b.error?.type : undefined;
  const nodeErrors = b.node_errors && !Array.isArray(b.node_errors) ? b.node_errors : {};
  const missingClass =
    type === "invalid_prompt" &&
    /does not exist|not found|missing_node_type/i.test(
      String((b.error as { message?: string })?.message ?? ""),
    );
  const missingModel = Object.values(nodeErrors).some((ne) =>
    ne.errors?.some(
      (e) => e.type === "value_not_in_list" && MODEL_INPUT.test(e.extra_info?.input_name ?? ""),
    ),
  );
  return {
    error: { code: "WORKFLOW_REJECTED", message, details: { comfyui: body } },
    hostSpecific: missingClass || type === "missing_node_type" || missingModel,
  };
}

export function executionFailure(d: Record<string, unknown>): { error: JobError; oom: boolean } {
  const message = String(d.exception_message ?? "execution failed").trim();
  const exceptionType = String(d.exception_type ?? "");
  const oom = /OutOfMemory/i.test(exceptionType) || /out of memory/i.test(message);
  return {
    oom,
    error: {
      code: oom ? "OUT_OF_MEMORY" : "EXECUTION_ERROR",
      message: `node ${String(d.node_id ?? "?")} (${String(d.node_type ?? "?")}): ${message}`,
      details: {
        node_id: d.node_id ?? null,
        node_type: d.node_type ?? null,
        exception_type: exceptionType || null,
        exception_message: message,
      },
    },
  };
}
