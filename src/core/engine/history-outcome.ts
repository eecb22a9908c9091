// How a prompt ended, read from its /history entry: the truth, where WebSocket events are only a hint.
import type { HistoryEntry } from "../../backends/protocol.js";
import type { JobError } from "../models.js";
import { executionFailure } from "./failure.js";

export type HistoryVerdict =
  | { kind: "success" }
  | { kind: "error"; error: JobError; oom: boolean }
  /** Not by us (a cancel finishes before the host answers): another client's interrupt on a shared host. */
  | { kind: "interrupted" }
  | { kind: "unknown"; status: string };

/** An entry is final once it has a status (or none at all, as older hosts write it). */
export function isFinished(e: HistoryEntry): boolean {
  return e.status === undefined || e.status.completed === true || e.status.status_str !== undefined;
}

export function verdictOf(entry: HistoryEntry): HistoryVerdict {
  const status = entry.status;
  const messages = status?.messages ?? [];
  if (status?.status_str === "success" || (status?.completed && status.status_str !== "error"))
    return { kind: "success" };
  const errMsg = messages.find((m) => m[0] === "execution_error");
  if (errMsg) {
    const f = executionFailure(errMsg[1] as Record<string, unknown>);
    return { kind: "error", error: f.error, oom: f.oom };
  }
  if (messages.some((m) => m[0] === "execution_interrupted")) return { kind: "interrupted" };
  return { kind: "unknown", status: status?.status_str ?? "unknown" };
}
