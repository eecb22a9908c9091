// The process: read the config, start the Orchestrator, stop cleanly on SIGINT/SIGTERM.
import { Orchestrator } from "./app.js";
import { type Config, ConfigError, configPathFrom, loadConfig } from "./config.js";
import { createLogger } from "./logger.js";

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
  const log = createLogger({ level: config.log_level, logDir: config.log_dir });
  let app: Orchestrator;
  try {
    app = new Orchestrator(config, log);
    await app.start();
  } catch (err) {
    log.fatal({ err }, "could not start");
    process.stderr.write(`orchestrator: could not start: ${(err as Error).message}\n`);
    process.exit(1);
  }

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
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
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled promise rejection"));
}

void main();
