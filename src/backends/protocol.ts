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
        type: z.string().optional(),
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
}

/** ITEM = [number, prompt_id, prompt, extra_data, outputs_to_execute, ...]: index by position. */
export function toQueueItem(item: unknown[]): QueueItem | null {
  if (typeof item[1] !== "string") return null;
  const extra = item[3];
  return {
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

/** Whether a node's inputs choices list names the models a host has (ckpt_name, lora_name, ...). */
export function modelChoices(info: unknown): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (!info || typeof info !== "object") return out;
  const inputs = (info as { input?: Record<string, Record<string, unknown>> }).input ?? {};
  for (const group of Object.values(inputs)) {
    if (!group || typeof group !== "object") continue;
    for (const [name, spec] of Object.entries(group)) {
      const first = Array.isArray(spec) ? spec[0] : undefined;
      if (Array.isArray(first)) out.set(name, new Set(first.map(String)));
    }
  }
  return out;
}
