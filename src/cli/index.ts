// Process entry of the `orchestrator` CLI (bin/orchestrator.js loads it): wires argv, the streams, Ctrl-C.
import { run } from "./main.js";

const ctrl = new AbortController();
process.once("SIGINT", () => ctrl.abort());
process.once("SIGTERM", () => ctrl.abort());
// Writes to a closed pipe (`orchestrator jobs | head`) must end quietly, not with a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
});

const code = await run(process.argv.slice(2), {
  out: process.stdout,
  err: process.stderr,
  env: process.env,
  signal: ctrl.signal,
});
process.exitCode = code;
// Open sockets (a watch that just ended, keep-alive connections) must not keep a finished command alive.
setTimeout(() => process.exit(code), 100).unref();
