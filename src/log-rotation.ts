// The log_dir file, rotated by pino-roll in a worker thread (so rotation and disk writes never block the
// event loop): a new file past a size and/or each day or hour, the oldest deleted beyond `keep`.
import { createRequire } from "node:module";
import path from "node:path";
import pino from "pino";

export interface LogRotation {
  /** Start a new file past this size; 0: no size limit. */
  size_mb: number;
  frequency: "daily" | "hourly" | "none";
  /** Rotated files kept besides the current one. */
  keep: number;
}

const require = createRequire(import.meta.url);

/** Files are `orchestrator.N.log`; N counts up, the highest is the one being written. */
export function rotatingLogFile(logDir: string, r: LogRotation): pino.DestinationStream {
  const stream = pino.transport({
    target: require.resolve("pino-roll"),
    options: {
      file: path.join(logDir, "orchestrator"),
      extension: ".log",
      mkdir: true,
      ...(r.size_mb > 0 ? { size: `${Math.max(1, Math.round(r.size_mb * 1024))}k` } : {}),
      ...(r.frequency !== "none" ? { frequency: r.frequency } : {}),
      limit: { count: r.keep },
    },
  });
  // A log file that cannot be written (disk full, folder deleted) must not take the server down with it.
  let reported = false;
  stream.on("error", (err: Error) => {
    if (reported) return;
    reported = true;
    process.stderr.write(`orchestrator: cannot write the log file in ${logDir}: ${err.message}\n`);
  });
  return stream;
}
