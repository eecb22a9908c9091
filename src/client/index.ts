// The Orchestrator's typed client. Types come from the server's zod schemas (src/api/schemas).
export { ConnectionError, OrchestratorError } from "./errors.js";
export { EventSocket, type EventSocketOptions, type Preview } from "./event-socket.js";
export {
  type ClientOptions,
  type ImageInput,
  isTerminalStatus,
  OrchestratorClient,
  type SubmitOptions,
  type WaitOptions,
} from "./orchestrator-client.js";
export type * from "./types.js";
