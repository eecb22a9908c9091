// The client's types: inferred from the server's own zod schemas, so they cannot disagree with the API.
import type { z } from "zod";
import type { ErrorBody } from "../api/schemas/common.js";
import type { JobEvent, JobEventType, WsClientMessage, WsServerMessage } from "../api/schemas/events.js";
import type {
  Backend,
  BackendListSchema,
  HealthSchema,
  WorkflowDetailSchema,
  WorkflowListSchema,
} from "../api/schemas/fleet.js";
import type { JobList, JobView, ManifestSchema, SubmitAccepted } from "../api/schemas/jobs.js";

export type {
  Backend,
  ErrorBody,
  JobEvent,
  JobEventType,
  JobList,
  JobView,
  SubmitAccepted,
  WsClientMessage,
  WsServerMessage,
};
/** What `submit` accepts: defaults (priority 0, no parameters) may be left out. */
export type Manifest = z.input<typeof ManifestSchema>;
export type JobStatus = JobView["status"];
export type JobOutput = JobView["outputs"][number];
export type WorkflowList = z.infer<typeof WorkflowListSchema>;
export type WorkflowDetail = z.infer<typeof WorkflowDetailSchema>;
export type BackendList = z.infer<typeof BackendListSchema>;
export type Health = z.infer<typeof HealthSchema>;
export type BackendAction = "drain" | "enable" | "disable" | "refresh";
export type FieldProblem = { field: string; message: string };
