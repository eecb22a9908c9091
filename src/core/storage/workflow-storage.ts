// Loads workflow definitions from a folder and keeps them current: a changed, added or deleted file takes
// effect within a second or two, and a broken file is reported without affecting the others.
import { createHash } from "node:crypto";
import { type FSWatcher, mkdirSync, readdirSync, readFileSync, statSync, watch } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { AppError } from "../../errors.js";
import { defaultProblems } from "../engine/parameters.js";
import { checkDefinition, toDefinition, type WorkflowDefinition } from "./workflow-definition.js";

export interface InvalidWorkflow {
  id: string;
  file: string;
  reasons: string[];
}

interface FileState {
  mtimeMs: number;
  size: number;
}

export class WorkflowStorage {
  private workflows = new Map<string, WorkflowDefinition & { file: string }>();
  private invalid = new Map<string, InvalidWorkflow>();
  private files = new Map<string, FileState>();
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;

  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** Loads every file now; with `watch`, keeps reloading on change until close(). */
  start(opts: { watch: boolean; pollMs?: number } = { watch: true }): void {
    mkdirSync(this.dir, { recursive: true });
    this.rescan(true);
    if (!opts.watch) return;
    try {
      this.watcher = watch(this.dir, () => {
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => this.rescan(false), 100);
      });
      this.watcher.on("error", (err) =>
        this.log.warn({ err }, "workflow folder watcher failed; polling only"),
      );
    } catch (err) {
      this.log.warn({ err }, "cannot watch the workflow folder; polling only");
    }
    // fs.watch can miss events (editors that replace files, network mounts): a cheap stat poll backs it up.
    this.timer = setInterval(() => this.rescan(false), opts.pollMs ?? 1000);
    this.timer.unref();
  }

  close(): void {
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  get(id: string): WorkflowDefinition {
    const wf = this.workflows.get(id);
    if (wf) return wf;
    const bad = this.invalid.get(id);
    if (bad) {
      throw new AppError("WORKFLOW_INVALID", `Workflow "${id}" failed to load`, {
        workflow_id: id,
        reasons: bad.reasons,
      });
    }
    throw new AppError("WORKFLOW_NOT_FOUND", `Workflow "${id}" not found`, {
      field: "workflow_id",
      workflow_id: id,
      available: [...this.workflows.keys()].sort(),
    });
  }

  list(): { valid: WorkflowDefinition[]; invalid: InvalidWorkflow[] } {
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    return { valid: [...this.workflows.values()].sort(byId), invalid: [...this.invalid.values()].sort(byId) };
  }

  /** Re-reads files whose size or mtime changed, and forgets deleted ones. */
  rescan(initial = false): void {
    let names: string[];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith(".json"));
    } catch (err) {
      this.log.error({ err, dir: this.dir }, "cannot read the workflow folder");
      return;
    }
    const seen = new Set<string>();
    let changed = false;
    for (const name of names) {
      const file = path.join(this.dir, name);
      seen.add(file);
      let st: FileState;
      try {
        const s = statSync(file);
        st = { mtimeMs: s.mtimeMs, size: s.size };
      } catch {
        continue; // deleted between readdir and stat: the next scan forgets it
      }
      const prev = this.files.get(file);
      if (prev && prev.mtimeMs === st.mtimeMs && prev.size === st.size) continue;
      this.files.set(file, st);
      changed = true;
    }
    for (const file of this.files.keys()) {
      if (!seen.has(file)) {
        this.files.delete(file);
        changed = true;
      }
    }
    if (changed) this.reload(initial);
  }

  private reload(initial: boolean): void {
    const before = new Map([...this.workflows].map(([id, wf]) => [id, wf.version]));
    const workflows = new Map<string, WorkflowDefinition & { file: string }>();
    const invalid = new Map<string, InvalidWorkflow>();
    for (const file of [...this.files.keys()].sort()) {
      const result = this.loadFile(file);
      if ("reasons" in result) {
        invalid.set(result.id, result);
        continue;
      }
      const dup = workflows.get(result.id);
      if (dup) {
        invalid.set(`${result.id}@${path.basename(file)}`, {
          id: result.id,
          file,
          reasons: [`duplicate workflow id "${result.id}", already defined by ${path.basename(dup.file)}`],
        });
        continue;
      }
      workflows.set(result.id, result);
    }
    this.workflows = workflows;
    this.invalid = invalid;
    for (const bad of invalid.values()) {
      this.log.warn({ workflow_id: bad.id, file: bad.file, reasons: bad.reasons }, "workflow is invalid");
    }
    if (initial) {
      this.log.info({ count: workflows.size, invalid: invalid.size, dir: this.dir }, "workflows loaded");
      return;
    }
    for (const [id, wf] of workflows) {
      if (!before.has(id)) this.log.info({ workflow_id: id }, "workflow added");
      else if (before.get(id) !== wf.version)
        this.log.info({ workflow_id: id, version: wf.version }, "workflow changed");
    }
    for (const id of before.keys())
      if (!workflows.has(id)) this.log.info({ workflow_id: id }, "workflow removed");
  }

  private loadFile(file: string): (WorkflowDefinition & { file: string }) | InvalidWorkflow {
    const fileId = path.basename(file, ".json");
    let text: string;
    let json: unknown;
    try {
      text = readFileSync(file, "utf8");
      json = JSON.parse(text);
    } catch (err) {
      return { id: fileId, file, reasons: [`not valid JSON: ${(err as Error).message}`] };
    }
    const version = createHash("sha256").update(text).digest("hex").slice(0, 12);
    const result = toDefinition(json, fileId, version);
    if (!result.ok) return { id: result.id, file, reasons: result.reasons };
    const wf = result.workflow;
    const reasons = checkDefinition(wf, (name) => defaultProblems(wf.parameters[name]!));
    if (reasons.length > 0) return { id: wf.id, file, reasons };
    return { ...wf, file };
  }
}
