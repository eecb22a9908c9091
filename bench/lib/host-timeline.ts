// When each host was busy, by the host's own clock: the execution_start and execution_success timestamps
// that ComfyUI records in every /history entry. Idle gaps and busy time come from these, never from what a
// dispatcher believes it did.
import { getJson } from "./http.js";

export interface Interval {
  promptId: string;
  start: number;
  end: number;
}

type HistoryEntry = { status?: { messages?: [string, { timestamp?: number }][] } };

/** This host's executions of the given prompts, in start order. */
export async function hostIntervals(hostUrl: string, promptIds: ReadonlySet<string>): Promise<Interval[]> {
  const r = await getJson<Record<string, HistoryEntry>>(`${hostUrl}/history?max_items=100000`, 60_000);
  if (r.status !== 200) throw new Error(`GET ${hostUrl}/history: ${r.status}`);
  const out: Interval[] = [];
  for (const [promptId, entry] of Object.entries(r.body)) {
    if (!promptIds.has(promptId)) continue;
    const messages = entry.status?.messages ?? [];
    const start = messages.find((m) => m[0] === "execution_start")?.[1].timestamp;
    const end = messages.find((m) => m[0] === "execution_success" || m[0] === "execution_error")?.[1]
      .timestamp;
    if (typeof start === "number" && typeof end === "number") out.push({ promptId, start, end });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Idle time between one prompt's end and the next one's start on the same host. */
export function idleGaps(intervals: readonly Interval[]): number[] {
  const gaps: number[] = [];
  for (let i = 1; i < intervals.length; i++)
    gaps.push(Math.max(0, intervals[i]!.start - intervals[i - 1]!.end));
  return gaps;
}

export function busyMs(intervals: readonly Interval[]): number {
  let ms = 0;
  for (const iv of intervals) ms += iv.end - iv.start;
  return ms;
}
