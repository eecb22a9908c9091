// `npm run bench [-- --quick] [--scenario overhead,throughput,...] [--out FILE] [--profile] [--keep]`:
// runs the scenarios, each against its baselines in the same run, prints one markdown table and writes it
// (with per-scenario details) to bench/results/latest.md. Progress goes to stderr, the table to stdout.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { benchTempDir, installCleanup, keepTempDir, killAll, REPO } from "./lib/children.js";
import {
  failedRow,
  type Row,
  type RunContext,
  renderDocument,
  renderTable,
  type ScenarioResult,
} from "./lib/report.js";
import { fairness } from "./scenarios/fairness.js";
import { mixedModels } from "./scenarios/mixed-models.js";
import { overhead } from "./scenarios/overhead.js";
import { projects } from "./scenarios/projects.js";
import { replicas } from "./scenarios/replicas.js";
import { scale } from "./scenarios/scale.js";
import { throughput } from "./scenarios/throughput.js";
import { transfer } from "./scenarios/transfer.js";
import { utilisation } from "./scenarios/utilisation.js";

const SCENARIOS: Record<string, (ctx: RunContext) => Promise<ScenarioResult>> = {
  overhead,
  throughput,
  utilisation,
  scale,
  transfer,
  fairness,
  "mixed-models": mixedModels,
  projects,
  replicas,
};

const USAGE = `usage: npm run bench -- [--quick] [--scenario NAME[,NAME...]] [--out FILE] [--profile] [--keep]
  --quick      a smoke run of about a minute: fewer jobs and repeats (figures are rougher)
  --scenario   any of ${Object.keys(SCENARIOS).join(", ")} (default: all, in that order)
  --out        where to write the markdown report (default bench/results/latest.md)
  --profile    write V8 CPU profiles of every Orchestrator process (summarise: npx tsx bench/profile-summary.ts)
  --keep       keep the temp folder (logs, databases, profiles) instead of deleting it`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      scenario: { type: "string", multiple: true },
      out: { type: "string" },
      profile: { type: "boolean", default: false },
      keep: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const names = (values.scenario ?? Object.keys(SCENARIOS))
    .flatMap((s) => s.split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !SCENARIOS[n]);
  if (unknown.length) {
    console.error(`unknown scenario(s): ${unknown.join(", ")}\n${USAGE}`);
    return 2;
  }

  installCleanup();
  keepTempDir(values.keep || values.profile);
  const started = performance.now();
  const log = (m: string) =>
    process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${m}\n`);
  const profileDir = values.profile ? path.join(benchTempDir(), "profiles") : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });
  const ctx: RunContext = { quick: values.quick, profileDir, log };

  const rows: Row[] = [];
  const details: string[] = [];
  let failed = false;
  for (const name of names) {
    log(`scenario ${name}${values.quick ? " (quick)" : ""}`);
    const t0 = performance.now();
    try {
      const r = await SCENARIOS[name]!(ctx);
      rows.push(...r.rows);
      details.push(r.details);
    } catch (err) {
      failed = true;
      const message = err instanceof Error ? err.message : String(err);
      log(`scenario ${name} failed: ${message}`);
      rows.push(failedRow(name, "scenario failed", message.split("\n")[0]!.slice(0, 160)));
      details.push(`### ${name}: failed\n\n\`\`\`\n${message.slice(0, 3000)}\n\`\`\``);
    }
    log(`scenario ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  const seconds = (performance.now() - started) / 1000;
  const doc = renderDocument({ quick: values.quick, scenarios: names, rows, details, seconds });
  const out = path.resolve(values.out ?? path.join(REPO, "bench", "results", "latest.md"));
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, doc);
  console.log(renderTable(rows));
  log(`report written to ${path.relative(process.cwd(), out) || out}`);
  if (profileDir) log(`CPU profiles in ${profileDir}`);
  if (values.keep || values.profile) log(`temp folder kept: ${benchTempDir()}`);
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    killAll();
    process.exit(code);
  },
  (err) => {
    console.error(err);
    killAll();
    process.exit(1);
  },
);
