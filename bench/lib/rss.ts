// Resident memory of a process, read from /proc (Linux): current (VmRSS), peak (VmHWM), a resettable
// peak (clear_refs 5), and a fast sampler for the moments in between.
import { readFileSync, writeFileSync } from "node:fs";

const MB = 1024 * 1024;

function statusField(pid: number, field: "VmRSS" | "VmHWM"): number {
  const text = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text);
  if (!m) throw new Error(`/proc/${pid}/status has no ${field}`);
  return Number(m[1]) * 1024;
}

export const rssBytes = (pid: number) => statusField(pid, "VmRSS");
export const peakRssBytes = (pid: number) => statusField(pid, "VmHWM");
export const toMB = (bytes: number) => bytes / MB;

/** Resets the process's peak RSS to its current RSS; false where the kernel does not allow it. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

/**
 * Measures how far a process's RSS rises above its level at the start while `during` runs: sampled every
 * few milliseconds, and cross-checked with the kernel's peak (which catches spikes between samples).
 */
export async function rssGrowthDuring<T>(
  pid: number,
  during: () => Promise<T>,
): Promise<{ result: T; growthBytes: number; startBytes: number }> {
  const hwmReset = resetPeakRss(pid);
  const startBytes = rssBytes(pid);
  let maxBytes = startBytes;
  const timer = setInterval(() => {
    try {
      maxBytes = Math.max(maxBytes, rssBytes(pid));
    } catch {
      // the process is gone; the caller's own work will fail and say so
    }
  }, 2);
  try {
    const result = await during();
    maxBytes = Math.max(maxBytes, rssBytes(pid));
    if (hwmReset) maxBytes = Math.max(maxBytes, peakRssBytes(pid));
    return { result, growthBytes: Math.max(0, maxBytes - startBytes), startBytes };
  } finally {
    clearInterval(timer);
  }
}
