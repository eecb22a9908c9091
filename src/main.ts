// The process: read the config, start the Orchestrator, stop cleanly on SIGINT/SIGTERM.
import { Orchestrator } from "./app.js";
import { type Config, ConfigError, configPathFrom, loadConfig } from "./config.js";
import { AppError } from "./errors.js";
import { createLogger } from "./logger.js";
import { loggerReady } from "./logger-ready.js";
import { describeStartupError, preflightProblems } from "./startup-problems.js";

async function main(): Promise<void> {
  const file = configPathFrom(process.argv.slice(2), process.env);
  let config: Config;
  try {
    config = loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`orchestrator: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  const preflight = preflightProblems(config);
  if (preflight.length > 0) exitWith(preflight);
  const log = createLogger({
    level: config.log_level,
    logDir: config.log_dir,
    rotation: config.log_rotation,
  });
  // Exiting before an asynchronous log file has opened makes pino throw "sonic boom is not ready yet".
  await loggerReady(log).catch((err: Error) => exitWith([`log_dir: ${err.message}`]));
  let app: Orchestrator;
  try {
    app = new Orchestrator(config, log, file);
    await app.start();
  } catch (err) {
    const problem = describeStartupError(err, config);
    log.fatal({ err, problem }, "could not start");
    await new Promise<void>((resolve) => log.flush(() => resolve()));
    exitWith([problem]);
  }

  let stoppingSince = 0;
  const shutdown = (signal: string) => {
    if (stoppingSince) {
      // npm and tsx relay a terminal's Ctrl-C to us on top of the one we got directly: only a signal sent
      // well after the first is someone asking us to give up on a clean shutdown.
      if (Date.now() - stoppingSince < 2000) return;
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stoppingSince = Date.now();
    log.info({ signal }, "shutting down");
    const force = setTimeout(() => {
      log.error("shutdown took too long; exiting");
      process.exit(1);
    }, 15_000);
    force.unref();
    app.stop().then(
      () => {
        log.info("stopped");
        log.flush();
        setTimeout(() => process.exit(0), 50);
      },
      (err) => {
        log.error({ err }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  // Re-read config.yaml; a bad file is logged and refused, and the running config stays.
  process.on("SIGHUP", () => {
    try {
      app.reloader.reload("SIGHUP");
    } catch (err) {
      // A bad file was logged with its problems; anything else is ours to report.
      if (!(err instanceof AppError)) log.error({ err }, "config reload failed");
    }
  });
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled promise rejection"));
}

/** One line per problem on stderr, as for an invalid config, and exit code 1. */
function exitWith(problems: string[]): never {
  process.stderr.write(problems.map((p) => `orchestrator: ${p}\n`).join(""));
  process.exit(1);
}

void main();
