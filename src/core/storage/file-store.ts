// Job files on disk: inputs kept for retries (`inputs/<job_id>/`) and outputs fetched from hosts
// (`outputs/<job_id>/`). Writes stream through a hash, so memory stays flat whatever the size.
import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { type Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

const CONTENT_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".mp4": "video/mp4",
  ".webm": "video/webm",
  ".mov": "video/quicktime",
  ".wav": "audio/wav",
  ".mp3": "audio/mpeg",
  ".flac": "audio/flac",
  ".ogg": "audio/ogg",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".glb": "model/gltf-binary",
};

export function contentTypeOf(filename: string): string {
  return CONTENT_TYPES[path.extname(filename).toLowerCase()] ?? "application/octet-stream";
}

/** A name safe to use as one path segment: no separators, no dot-dot, no control characters. */
export function safeName(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what we strip
  const clean = base.replace(/[\u0000-\u001f<>:"|?*]/g, "_").replace(/^\.+/, "_");
  return clean || "file";
}

export type FileArea = "inputs" | "outputs";

export class FileStore {
  private readonly made = new Set<string>();

  constructor(private readonly dataDir: string) {}

  dir(area: FileArea, jobId: string): string {
    return path.join(this.dataDir, area, safeName(jobId));
  }

  /** The path of a job's file, or null if the name would escape the job's folder. */
  resolve(area: FileArea, jobId: string, filename: string): string | null {
    if (filename !== safeName(filename)) return null;
    return path.join(this.dir(area, jobId), filename);
  }

  /**
   * Streams a body to its final name through a hash. No temp file and rename: a job's file is only served
   * once it is recorded, which happens after this resolves, so a half-written one is never handed out.
   */
  async saveStream(
    area: FileArea,
    jobId: string,
    filename: string,
    body: Readable,
  ): Promise<{ size: number; sha256: string }> {
    const final = path.join(await this.ensureDir(area, jobId), safeName(filename));
    const hash = createHash("sha256");
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(body, tap, createWriteStream(final));
    } catch (err) {
      await rm(final, { force: true });
      throw err;
    }
    return { size, sha256: hash.digest("hex") };
  }

  /** mkdir once per job folder: on a job's hot path every file-system round trip shows. */
  private async ensureDir(area: FileArea, jobId: string): Promise<string> {
    const dir = this.dir(area, jobId);
    if (this.made.has(dir)) return dir;
    await mkdir(dir, { recursive: true });
    if (this.made.size >= 10_000) this.made.clear();
    this.made.add(dir);
    return dir;
  }

  async saveBytes(area: FileArea, jobId: string, filename: string, bytes: Buffer): Promise<string> {
    const dir = this.dir(area, jobId);
    await mkdir(dir, { recursive: true });
    const final = path.join(dir, safeName(filename));
    await writeFile(`${final}.part`, bytes);
    await rename(`${final}.part`, final);
    return final;
  }

  async exists(file: string): Promise<boolean> {
    return stat(file).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async remove(area: FileArea, jobId: string): Promise<void> {
    this.made.delete(this.dir(area, jobId));
    await rm(this.dir(area, jobId), { recursive: true, force: true });
  }
}
