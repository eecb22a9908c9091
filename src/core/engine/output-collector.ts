// Downloads a prompt's output files from its host as soon as each is announced, one at a time, streamed
// to disk. Each file is recorded (and announced) once, whether it came from `executed` or from /history.
import type { Logger } from "pino";
import type { ComfyUIClient } from "../../backends/client.js";
import { type FileRef, filesOf } from "../../backends/protocol.js";
import type { JobOutput } from "../models.js";
import { contentTypeOf, type FileStore, safeName } from "../storage/file-store.js";

const DOWNLOAD_TRIES = 3;

export class OutputCollector {
  private readonly seen = new Set<string>();
  private readonly names = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | null = null;

  constructor(
    private readonly jobId: string,
    private readonly client: ComfyUIClient,
    private readonly files: FileStore,
    private readonly signal: AbortSignal,
    private readonly onSaved: (output: JobOutput) => void,
    private readonly log: Logger,
    existing: JobOutput[] = [],
  ) {
    for (const o of existing) {
      this.seen.add(key(o.comfy));
      this.names.add(o.filename);
    }
  }

  /** Queues every file of one node's output (the `output` of `executed`, or one node of history). */
  add(nodeId: string, output: Record<string, unknown>): void {
    for (const { kind, ref } of filesOf(output)) {
      const k = key(ref);
      if (this.seen.has(k)) continue;
      this.seen.add(k);
      this.chain = this.chain.then(() => (this.failure ? undefined : this.download(nodeId, kind, ref)));
    }
  }

  /** Resolves when every queued download is done; rejects with the first failure. */
  async settle(): Promise<void> {
    await this.chain;
    if (this.failure) throw this.failure;
  }

  private async download(nodeId: string, kind: string, ref: FileRef): Promise<void> {
    const filename = this.uniqueName(nodeId, ref.filename);
    for (let attempt = 1; ; attempt++) {
      try {
        const { body } = await this.client.view(ref, this.signal);
        const { size, sha256 } = await this.files.saveStream("outputs", this.jobId, filename, body);
        this.onSaved({
          node_id: nodeId,
          filename,
          comfy: { filename: ref.filename, subfolder: ref.subfolder, type: ref.type },
          kind,
          content_type: contentTypeOf(filename),
          size,
          sha256,
          created_at: new Date().toISOString(),
        });
        return;
      } catch (err) {
        if (this.signal.aborted || attempt >= DOWNLOAD_TRIES) {
          this.failure = err as Error;
          return;
        }
        this.log.warn(
          { job_id: this.jobId, file: ref.filename, err: (err as Error).message },
          "output download failed; retrying",
        );
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }

  /** Files from different nodes or subfolders may share a name; ours must not. */
  private uniqueName(nodeId: string, comfyName: string): string {
    let name = safeName(comfyName);
    if (this.names.has(name)) name = safeName(`${nodeId}_${name}`);
    for (let i = 2; this.names.has(name); i++) name = safeName(`${nodeId}_${i}_${comfyName}`);
    this.names.add(name);
    return name;
  }
}

const key = (r: { filename: string; subfolder: string; type: string }) =>
  `${r.type}/${r.subfolder}/${r.filename}`;
