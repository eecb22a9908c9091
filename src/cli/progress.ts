// How `submit --wait` shows a job's life: a redrawn progress bar on a terminal, plain lines (state changes
// and quarter steps) when the output is a pipe or a file, so logs stay readable.
import type { JobEvent } from "../client/index.js";

export interface ProgressView {
  event(e: JobEvent): void;
  /** Ends the bar line (a terminal) before the final lines are printed. */
  finish(): void;
}

interface Out {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export function progressView(out: Out): ProgressView {
  return out.isTTY ? new Bar(out) : new Lines(out);
}

function stateLine(e: JobEvent): string | null {
  switch (e.type) {
    case "job.snapshot":
      return `${e.job.status}${e.job.backend_id ? ` on ${e.job.backend_id}` : ""}`;
    case "job.queued":
      return e.attempt ? `queued again (attempt ${e.attempt})` : "queued";
    case "job.dispatched":
      return `dispatched to ${e.backend_id} (attempt ${e.attempt})`;
    case "job.running":
      return `running on ${e.backend_id}`;
    case "job.output":
      return `output ${e.filename} (${e.size} B)`;
    case "job.retrying":
      return `retrying: ${e.error.code}: ${e.error.message}`;
    case "job.completed":
      return "completed";
    case "job.failed":
      return `failed: ${e.error.code}: ${e.error.message}`;
    case "job.cancelled":
      return "cancelled";
    default:
      return null;
  }
}

class Lines implements ProgressView {
  private quarter = -1;
  constructor(private readonly out: Out) {}

  event(e: JobEvent): void {
    if (e.type === "job.progress") {
      const q = Math.floor(e.percent / 25);
      if (q > this.quarter && q < 4) {
        this.quarter = q;
        this.out.write(`progress ${q * 25}%\n`);
      }
      return;
    }
    const line = stateLine(e);
    if (line) this.out.write(`${line}\n`);
  }

  finish(): void {}
}

class Bar implements ProgressView {
  private state = "waiting";
  private pct = 0;
  private node = "";
  private drawn = false;
  constructor(private readonly out: Out) {}

  event(e: JobEvent): void {
    if (e.type === "job.progress") {
      this.pct = e.percent;
      this.node = e.node_title ?? e.node_id ?? "";
    } else if (e.type === "job.completed") {
      this.pct = 100;
      this.state = "completed";
      this.node = "";
    } else if (e.type === "job.output") {
      this.out.write(`\r\x1b[2K${stateLine(e)}\n`);
    } else {
      this.state = stateLine(e) ?? this.state;
      if (e.type === "job.snapshot" && e.job.progress) this.pct = e.job.progress.percent;
    }
    this.draw();
  }

  finish(): void {
    if (this.drawn) this.out.write("\n");
    this.drawn = false;
  }

  private draw(): void {
    const width = Math.max(10, Math.min(40, (this.out.columns ?? 80) - 50));
    const filled = Math.round((this.pct / 100) * width);
    const bar = `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
    const text = `${bar} ${this.pct.toFixed(0).padStart(3)}%  ${this.state}${this.node ? `  ${this.node}` : ""}`;
    this.out.write(`\r\x1b[2K${text.slice(0, (this.out.columns ?? 80) - 1)}`);
    this.drawn = true;
  }
}
