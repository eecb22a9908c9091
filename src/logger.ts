// Structured JSON logs to stdout and to log_dir/orchestrator.log.
import { mkdirSync } from "node:fs";
import path from "node:path";
import pino, { type Logger } from "pino";

export function createLogger(opts: { level: string; logDir: string | null; stdout?: boolean }): Logger {
  const streams: pino.StreamEntry[] = [];
  // Asynchronous like the file: writes to a pipe are synchronous in Node on Linux, and a slow reader of
  // stdout must never stall the event loop that runs the jobs. main.ts flushes before exiting.
  if (opts.stdout !== false) {
    streams.push({ stream: pino.destination({ dest: 1, sync: false }), level: opts.level as pino.Level });
  }
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
