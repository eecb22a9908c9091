// Structured JSON logs to stdout and to rotated files in log_dir (see log-rotation.ts).
import { mkdirSync } from "node:fs";
import pino, { type Logger } from "pino";
import { type LogRotation, rotatingLogFile } from "./log-rotation.js";

const NO_ROTATION: LogRotation = { size_mb: 0, frequency: "none", keep: 10 };

export function createLogger(opts: {
  level: string;
  logDir: string | null;
  stdout?: boolean;
  rotation?: LogRotation;
}): Logger {
  const streams: pino.StreamEntry[] = [];
  // The logger's own level filters; streams take all it lets through, so a reload can change the level live.
  const level: pino.Level = "trace";
  // Asynchronous like the file: writes to a pipe are synchronous in Node on Linux, and a slow reader of
  // stdout must never stall the event loop that runs the jobs. main.ts flushes before exiting.
  if (opts.stdout !== false) {
    streams.push({ stream: pino.destination({ dest: 1, sync: false }), level });
  }
  if (opts.logDir) {
    mkdirSync(opts.logDir, { recursive: true });
    const file = rotatingLogFile(opts.logDir, opts.rotation ?? NO_ROTATION);
    streams.push({ stream: file, level });
  }
  return pino(
    {
      level: opts.level,
      base: { service: "orchestrator" },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Nothing logs these today; this keeps a future `{ req }` or `{ headers }` field from leaking a key.
      redact: {
        paths: [
          "*.headers.authorization",
          '*.headers["x-api-key"]',
          "headers.authorization",
          'headers["x-api-key"]',
        ],
        censor: "[REDACTED]",
      },
    },
    pino.multistream(streams),
  );
}
