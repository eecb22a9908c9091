// The JobManager's one event stream. Every consumer (WebSocket, SSE, webhooks, logs) listens here;
// `seq` is global and monotonic so a client can order events and detect gaps.
import { EventEmitter } from "node:events";

export const JOB_EVENT_TYPES = [
  "job.queued",
  "job.dispatched",
  "job.running",
  "job.progress",
  "job.output",
  "job.retrying",
  "job.completed",
  "job.failed",
  "job.cancelled",
  // A multi-node project's runs (job_id is the project's, with project_node and variant).
  "job.node.queued",
  "job.node.dispatched",
  "job.node.running",
  "job.node.progress",
  "job.node.output",
  "job.node.retrying",
  "job.node.completed",
  "job.node.failed",
  "job.node.cancelled",
  "job.node.skipped",
] as const;
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

export interface JobEvent {
  type: JobEventType;
  job_id: string;
  seq: number;
  ts: string;
  data: Record<string, unknown>;
}

export interface JobPreview {
  job_id: string;
  /** 1 = JPEG, 2 = PNG, as ComfyUI numbers them. */
  format: number;
  image: Buffer;
}

export class JobEvents {
  private readonly emitter = new EventEmitter();
  private seq = 0;

  constructor() {
    this.emitter.setMaxListeners(0);
  }

  /** The seq of the last event emitted: a snapshot taken now reflects every event up to it. */
  get lastSeq(): number {
    return this.seq;
  }

  emit(type: JobEventType, jobId: string, data: Record<string, unknown> = {}): JobEvent {
    const event: JobEvent = { type, job_id: jobId, seq: ++this.seq, ts: new Date().toISOString(), data };
    this.emitter.emit("event", event);
    return event;
  }

  /**
   * Whether anyone follows this job's previews now; set by the API layer, which knows its subscribers. Asked
   * when a prompt is queued, since a ComfyUI host renders previews only for prompts that request them.
   */
  previewInterest: (jobId: string) => boolean = () => false;

  emitPreview(preview: JobPreview): void {
    this.emitter.emit("preview", preview);
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: (e: JobEvent) => void): () => void {
    this.emitter.on("event", listener);
    return () => this.emitter.off("event", listener);
  }

  subscribePreviews(listener: (p: JobPreview) => void): () => void {
    this.emitter.on("preview", listener);
    return () => this.emitter.off("preview", listener);
  }
}
