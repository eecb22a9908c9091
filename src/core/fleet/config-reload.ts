// SIGHUP and POST /api/admin/reload: re-read config.yaml and apply what can change while running (the
// hosts, log_level) without dropping a job or a connection. A bad file is refused with the messages
// start-up would print, and the running config stays. Other changed keys are listed as needing a restart.
import type { Logger } from "pino";
import { type Config, ConfigError, loadConfig } from "../../config.js";
import { AppError } from "../../errors.js";
import type { Fleet, FleetChange } from "./fleet.js";

export interface ReloadResult {
  file: string;
  backends: FleetChange;
  log_level: string;
  /** Keys that changed in the file but only take effect after a restart. */
  restart_required: string[];
}

/** Keys applied live; everything else is read once at start-up. */
const LIVE_KEYS = new Set(["backends", "log_level"]);

export class ConfigReloader {
  private reloading = false;

  constructor(
    private readonly file: string | null,
    private current: Config,
    private readonly fleet: Fleet,
    private readonly log: Logger,
  ) {}

  reload(trigger: "SIGHUP" | "api"): ReloadResult {
    if (!this.file) {
      throw new AppError("CONFIG_INVALID", "This server was started without a config file to re-read", {
        problems: ["no config file"],
      });
    }
    if (this.reloading) throw new AppError("CONFIG_INVALID", "A reload is already running", { problems: [] });
    this.reloading = true;
    try {
      let next: Config;
      try {
        next = loadConfig(this.file);
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        this.log.error(
          { file: this.file, trigger, problems: err.problems },
          `config reload refused, the running config stays: ${err.message}`,
        );
        throw new AppError("CONFIG_INVALID", err.message, { file: this.file, problems: err.problems });
      }
      const restartRequired = changedKeys(this.current, next).filter((k) => !LIVE_KEYS.has(k.split(".")[0]!));
      const backends = this.fleet.apply(next.backends);
      if (next.log_level !== this.current.log_level) this.log.level = next.log_level;
      this.current = { ...this.current, backends: next.backends, log_level: next.log_level };
      const result = {
        file: this.file,
        backends,
        log_level: next.log_level,
        restart_required: restartRequired,
      };
      this.log.info({ trigger, ...result }, "config reloaded");
      if (restartRequired.length)
        this.log.warn({ keys: restartRequired }, "changed config keys take effect after a restart");
      return result;
    } finally {
      this.reloading = false;
    }
  }
}

/** Dotted paths (two levels deep) whose values differ. */
function changedKeys(a: Config, b: Config): string[] {
  const out: string[] = [];
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const x = (a as Record<string, unknown>)[k];
    const y = (b as Record<string, unknown>)[k];
    if (JSON.stringify(x) === JSON.stringify(y)) continue;
    if (isPlain(x) && isPlain(y)) {
      for (const sub of new Set([...Object.keys(x), ...Object.keys(y)]))
        if (JSON.stringify(x[sub]) !== JSON.stringify(y[sub])) out.push(`${k}.${sub}`);
    } else out.push(k);
  }
  return out;
}

const isPlain = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
