// One markdown table for the whole run: each row the Orchestrator figure, the baseline figure measured in
// the same run, their ratio, the target and whether it is met. Targets are reported, never asserted.
import os from "node:os";

export interface Row {
  scenario: string;
  metric: string;
  /** Orchestrator's figure, formatted with its unit. */
  value: string;
  /** The baseline's figure, formatted, with the baseline's name. */
  baseline: string;
  /** Orchestrator ÷ baseline (of the raw numbers); null when one side has no figure. */
  ratio: number | null;
  target: string;
  /** null: no target for this row, or no figure to judge. */
  met: boolean | null;
}

export interface ScenarioResult {
  rows: Row[];
  /** Markdown shown below the table: per-host figures, breakdowns, caveats. */
  details: string;
}

export interface RunContext {
  quick: boolean;
  /** Folder for Orchestrator CPU profiles, when --profile was given. */
  profileDir?: string;
  log(message: string): void;
}

export const TABLE_HEADER =
  "| Scenario | Metric | Orchestrator | Baseline (same run) | Ratio | Target | Met |";

export function ratio(value: number, baseline: number): number | null {
  return Number.isFinite(value) && Number.isFinite(baseline) && baseline !== 0 ? value / baseline : null;
}

export function fmt(n: number, digits = 1): string {
  if (!Number.isFinite(n)) return "n/a";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "+4.2" or "−1.3": a difference with its sign always shown. */
export function signed(n: number, digits = 1): string {
  return `${n < 0 ? "−" : "+"}${fmt(Math.abs(n), digits)}`;
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function renderTable(rows: Row[]): string {
  const lines = [TABLE_HEADER, "|---|---|---:|---:|---:|---|---|"];
  for (const r of rows) {
    const ratioText = r.ratio === null ? "—" : `${fmt(r.ratio, 2)}×`;
    const met = r.met === null ? "—" : r.met ? "yes" : "**no**";
    lines.push(
      `| ${[r.scenario, r.metric, r.value, r.baseline, ratioText, r.target, met].map(cell).join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

/** A row for a scenario or baseline that could not run, with the reason in place of the figure. */
export function failedRow(scenario: string, metric: string, reason: string, target = "—"): Row {
  return { scenario, metric, value: `n/a (${reason})`, baseline: "n/a", ratio: null, target, met: null };
}

export function renderDocument(o: {
  quick: boolean;
  scenarios: string[];
  rows: Row[];
  details: string[];
  seconds: number;
}): string {
  const load = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(", ");
  const when = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  return [
    `# Orchestrator benchmark${o.quick ? " (--quick)" : ""}`,
    "",
    `${when} · Node ${process.version} · ${os.cpus().length} CPU(s) · load average at the end ${load} · ` +
      `scenarios: ${o.scenarios.join(", ")} · ${fmt(o.seconds, 0)} s`,
    "",
    renderTable(o.rows),
    "",
    "Ratios are Orchestrator ÷ baseline. Targets are reported, never asserted.",
    "",
    ...o.details.filter(Boolean).flatMap((d) => [d, ""]),
  ].join("\n");
}
