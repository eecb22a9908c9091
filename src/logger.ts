// Structured JSON logs to stdout and to log_dir/orchestrator.log.
import { mkdirSync } from "node:fs";
import path from "node:path";
import pino, { type Logger } from "pino";

export function createLogger(opts: { level: string; logDir: string | null; stdout?: boolean }): Logger {
  const streams: pino.StreamEntry[] = [];
  if (opts.stdout !== false) streams.push({ stream: process.stdout, level: opts.level as pino.Level });
  if (opts.logDir) {
    mkdirSync(opts.logDir, { recursive: true });
    const file = pino.destination({
      dest: path.join(opts.logDir, "orchestrator.log"),
      mkdir: true,
      sync: false,
    });
    streams.push({ stream: file, level: opts.level as pino.Level });
  }
  return pino(
    { level: opts.level, base: { service: "orchestrator" }, timestamp: pino.stdTimeFunctions.isoTime },
    pino.multistream(streams),
  );
}
