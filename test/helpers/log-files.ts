// The text of every log file an Orchestrator wrote in a test folder (log_dir rotates: orchestrator.N.log).
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export function readLogs(dir: string): string {
  const logs = path.join(dir, "logs");
  if (!existsSync(logs)) return "";
  return readdirSync(logs)
    .filter((f) => /^orchestrator(\.\d+)?\.log$/.test(f))
    .sort((a, b) => Number(a.split(".")[1]) - Number(b.split(".")[1]))
    .map((f) => readFileSync(path.join(logs, f), "utf8"))
    .join("");
}
