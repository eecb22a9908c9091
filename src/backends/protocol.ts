// Shapes of what a ComfyUI host sends, parsed leniently: versions differ, so we require only what we use
// and tolerate extra fields (see shared/comfyui-protocol.md).
import { z } from "zod";

export const FileRefSchema = z.looseObject({
  filename: z.string(),
  subfolder: z.string().default(""),
  type: z.string().default("output"),
});
export type FileRef = z.infer<typeof FileRefSchema>;

export const HistoryEntrySchema = z.looseObject({
  outputs: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
  status: z
    .looseObject({
      status_str: z.string().optional(),
      completed: z.boolean().optional(),
      messages: z.array(z.tuple([z.string(), z.unknown()]).rest(z.unknown())).default([]),
    })
    .optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntrySchema>;

export const SystemStatsSchema = z.looseObject({
  system: z.looseObject({ comfyui_version: z.string().optional() }).optional(),
  devices: z
    .array(
      z.looseObject({
        name: z.string().optional(),
        /** "cuda", "mps", "xpu"..., or "cpu" on a host without a GPU (its "VRAM" is then system RAM). */
        type: z.string().optional(),
        index: z.number().nullable().optional(),
        vram_total: z.number().default(0),
        vram_free: z.number().default(0),
      }),
    )
    .default([]),
});
export type SystemStats = z.infer<typeof SystemStatsSchema>;

export const QueueSchema = z.looseObject({
  queue_running: z.array(z.array(z.unknown())).default([]),
  queue_pending: z.array(z.array(z.unknown())).default([]),
});

export interface QueueItem {
  number: number;
  prompt_id: string;
  extra_data: Record<string, unknown>;
  /** The prompt's API graph: what it loads (foreign prompts' too). */
  prompt: Record<string, unknown> | null;
}

/** ITEM = [number, prompt_id, prompt, extra_data, outputs_to_execute, ...]: index by position. */
export function toQueueItem(item: unknown[]): QueueItem | null {
  if (typeof item[1] !== "string") return null;
  const extra = item[3];
  const prompt = item[2];
  return {
    prompt: prompt && typeof prompt === "object" ? (prompt as Record<string, unknown>) : null,
    number: typeof item[0] === "number" ? item[0] : 0,
    prompt_id: item[1],
    extra_data: extra && typeof extra === "object" ? (extra as Record<string, unknown>) : {},
  };
}

export interface WsMessage {
  type: string;
  data: Record<string, unknown>;
}

/**
 * A text frame as `{type, data}`, or null. Checked by hand rather than with zod: a sampling host sends a
 * frame per step to every job, and this runs on each one.
 */
export function parseWsMessage(text: string): WsMessage | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (!v || typeof v !== "object") return null;
  const { type, data } = v as { type?: unknown; data?: unknown };
  if (typeof type !== "string") return null;
  return {
    type,
    data: data && typeof data === "object" && !Array.isArray(data) ? (data as Record<string, unknown>) : {},
  };
}

/** Every file an output node produced, whatever key it sits under (images, gifs, videos, audio, ...). */
export function filesOf(output: Record<string, unknown>): { kind: string; ref: FileRef }[] {
  const files: { kind: string; ref: FileRef }[] = [];
  for (const [kind, value] of Object.entries(output)) {
    if (!Array.isArray(value)) continue;
    for (const item of value) {
      const ref = FileRefSchema.safeParse(item);
      if (ref.success) files.push({ kind, ref: ref.data });
    }
  }
  return files;
}

/**
 * The choices of one /object_info input, in either form: classic `[["a", "b"], {...}]` or V3
 * `["COMBO", {"options": ["a", "b"], ...}]`. Undefined for any other input.
 */
export function inputChoices(spec: unknown): string[] | undefined {
  if (!Array.isArray(spec)) return undefined;
  if (Array.isArray(spec[0])) return spec[0].map(String);
  const opts = spec[1] as { options?: unknown } | undefined;
  if (spec[0] === "COMBO" && Array.isArray(opts?.options)) return opts.options.map(String);
  return undefined;
}

/** A node class's choice inputs (ckpt_name, lora_name, model_name, ...): how we learn a host's models. */
export function modelChoices(info: unknown): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (!info || typeof info !== "object") return out;
  const inputs = (info as { input?: Record<string, Record<string, unknown>> }).input ?? {};
  for (const [groupName, group] of Object.entries(inputs)) {
    if (groupName === "hidden" || !group || typeof group !== "object") continue;
    for (const [name, spec] of Object.entries(group)) {
      const choices = inputChoices(spec);
      if (choices) out.set(name, new Set(choices));
    }
  }
  return out;
}

/** A binary preview frame: type 1 (4-byte format, image) or type 4 (4-byte JSON length, metadata, image). */
export interface PreviewFrame {
  /** From type 4's metadata; null for type 1, which the caller attributes to the prompt executing. */
  promptId: string | null;
  /** 1 = JPEG, 2 = PNG, as ComfyUI numbers them. */
  format: number;
  image: Buffer;
}

const IMAGE_TYPES: Record<string, number> = { "image/jpeg": 1, "image/png": 2 };

export function parsePreviewFrame(data: Buffer): PreviewFrame | null {
  if (data.length < 8) return null;
  const type = data.readUInt32BE(0);
  if (type === 1) return { promptId: null, format: data.readUInt32BE(4), image: data.subarray(8) };
  if (type !== 4) return null;
  const len = data.readUInt32BE(4);
  if (8 + len > data.length) return null;
  let meta: { prompt_id?: unknown; image_type?: unknown };
  try {
    meta = JSON.parse(data.subarray(8, 8 + len).toString("utf8"));
  } catch {
    return null;
  }
  return {
    promptId: typeof meta.prompt_id === "string" ? meta.prompt_id : null,
    format: IMAGE_TYPES[String(meta.image_type)] ?? 1,
    image: data.subarray(8 + len),
  };
}
