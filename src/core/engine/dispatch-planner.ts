// The expected-completion policy, as the DispatchQueue's placement and one of its ordering rules. Each
// round, groups of alike jobs are tried in order (priority, then warm-first with aging, then age): the
// group's first jobs are planned onto hosts, each where it would finish first (completion-estimate.ts),
// busy or not, and reserved there so later jobs see that host's longer line. If one lands on a host with
// room, the group's head starts there; if all wait for busy hosts, the group waits, with the reason.
import type { Logger } from "pino";
import type { BackendMonitor } from "../../backends/monitor.js";
import {
  afterRun,
  isWarm,
  type ModelSet,
  modelSetFrom,
  modelSetOf,
  type WarmModels,
} from "../../backends/warm-models.js";
import type { ApiGraph, Job } from "../models.js";
import {
  best,
  type Estimate,
  estimateOn,
  type HostLine,
  type JobShape,
  reserve,
  seconds,
} from "./completion-estimate.js";
import type { OrderingRule, QueueGroup } from "./dispatch-queue.js";
import type { HostSpeed } from "./host-speed.js";
import { workOf } from "./job-work.js";
import type { PromptTiming } from "./prompt-timing.js";
import type { Requirements } from "./requirements.js";
import type { Scheduler, SelectOptions } from "./scheduler.js";

export type Explanation = {
  reason: string;
  backend_id: string | null;
  estimates: { backend_id: string; expected_s: number; wait_s: number; load_s: number; run_s: number }[];
};

interface InFlight {
  jobId: string;
  promptId: string;
  shape: JobShape;
  loadMs: number;
  runMs: number;
}

interface Planned {
  shape: JobShape;
  est: Estimate;
  all: Estimate[];
}

export interface PlannerOptions {
  /** false under `least_queue`: the planner then only learns and explains. */
  enabled: boolean;
  agingMs: number;
  /** A loader of ours ran long enough to be a model load (counted in /metrics). */
  onModelLoad?: (backendId: string) => void;
}

/** A prompt past its estimate is assumed to need another tenth of it: it is late, not necessarily stuck. */
const OVERRUN_SHARE = 0.1;
/** Loader time below this is a cached or warm loader, not a model load. */
const LOAD_NOISE_MS = 50;
/** Jobs of one group planned per round: enough to see that a long run of one model needs another host. */
const GROUP_DEPTH = 64;
const SHAPES_MAX = 4096;
/** A reason older than this (no round has looked at the job since) is estimated afresh. */
const EXPLANATION_TTL_MS = 5000;

export class DispatchPlanner {
  private readonly inflight = new Map<string, Map<string, InFlight>>();
  private readonly shapes = new Map<string, JobShape>();
  private readonly picked = new Map<string, Planned>();
  private readonly explanations = new Map<string, { at: number; e: Explanation }>();
  /** When another client's running prompt was first seen running (its start is not ours to hear). */
  private readonly foreignSince = new Map<string, number>();
  private round: { at: number; lines: Map<string, HostLine> } | null = null;
  /** Round-robin among hosts that estimate alike. */
  private readonly lastPicked = new Map<string, number>();
  private picks = 0;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly speed: HostSpeed,
    private readonly timing: PromptTiming,
    private readonly warm: ReadonlyMap<string, WarmModels>,
    private readonly jobOf: (jobId: string) => Job | null,
    private readonly countOf: (queueKey: string, limit: number) => number,
    private readonly opts: PlannerOptions,
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.opts.enabled;
  }

  /**
   * The queue order under this policy: the given rules with warm-first just before the age rule, so it
   * never overrides priority or a fair-share rule. Among equals, a group whose model is warm on a host with
   * room goes first, and so does one whose head has waited `aging_s`: past that it is no longer passed
   * over, and among those the oldest goes first.
   */
  ordering(rules: readonly OrderingRule[]): OrderingRule[] {
    const warmFirst: OrderingRule = (a, b) => this.rank(a) - this.rank(b);
    const age = rules.findIndex((r) => r.name === "byAge");
    const at = age < 0 ? rules.length : age;
    return [...rules.slice(0, at), warmFirst, ...rules.slice(at)];
  }

  /** Starts a dispatch round: every host's line as it is now. */
  beginRound(): void {
    this.round = { at: Date.now(), lines: this.lines(Date.now()) };
  }

  /** Where this group's head should start now, or null if it is better off waiting (reserving its hosts). */
  place(g: QueueGroup): BackendMonitor | null {
    const lines = this.round?.lines ?? this.lines(Date.now());
    const shape = this.shapeOf(g.head.id);
    if (!shape) return null;
    const depth = Math.max(1, this.countOf(g.key, GROUP_DEPTH));
    const eligible = this.eligible(g.requirements, g.options, lines);
    for (let i = 0; i < depth; i++) {
      const all = this.estimates(eligible, shape);
      const est = best(all, lines);
      if (!est) {
        this.remember(g.head.id, {
          reason: "no eligible host is online",
          backend_id: null,
          estimates: [],
        });
        return null;
      }
      const planned = { shape, est, all };
      if (i === 0) this.remember(g.head.id, explain(planned));
      // Jobs of one group are alike: whichever of them lands on a free host, the head is the one to go.
      if (est.open) {
        this.lastPicked.set(est.backendId, ++this.picks);
        if (this.picked.size >= SHAPES_MAX) this.picked.clear();
        this.picked.set(g.head.id, planned);
        this.explanations.delete(g.head.id);
        this.log.debug(
          {
            job_id: g.head.id,
            backend_id: est.backendId,
            expected_s: s(est.totalMs),
            wait_s: s(est.waitMs),
            load_s: s(est.loadMs),
            run_s: s(est.runMs),
            warm: est.warm,
            aged: this.aged(g),
            planned_ahead: i,
            alternatives: Object.fromEntries(all.map((e) => [e.backendId, s(e.totalMs)])),
          },
          "dispatch estimate",
        );
        return this.scheduler.get(est.backendId);
      }
      reserve(lines.get(est.backendId)!, est, shape);
    }
    return null;
  }

  /** Why a queued job is waiting: from the last round that looked at it, else estimated now. */
  explain(job: Job, req: Requirements, hint?: SelectOptions): Explanation {
    if (!this.opts.enabled) {
      return { reason: "waiting for a host with room (policy least_queue)", backend_id: null, estimates: [] };
    }
    const known = this.explanations.get(job.id);
    if (known && Date.now() - known.at < EXPLANATION_TTL_MS) return known.e;
    const shape = this.shapeOf(job.id, job);
    const lines = this.lines(Date.now());
    const all = shape ? this.estimates(this.eligible(req, hint ?? {}, lines), shape) : [];
    const est = best(all, lines);
    if (!est || !shape) return { reason: "no eligible host is online", backend_id: null, estimates: [] };
    const e = explain({ shape, est, all });
    // Not its group's head: jobs alike and ahead of it go first.
    return { ...e, reason: `behind earlier jobs like it; then ${e.reason}` };
  }

  /** A prompt of ours is on a host (new or re-attached after a restart). */
  started(job: Job, m: BackendMonitor): void {
    if (!job.prompt_id) return;
    const shape = this.picked.get(job.id)?.shape ?? this.shapeOf(job.id, job);
    this.picked.delete(job.id);
    this.shapes.delete(job.id);
    if (!shape) return;
    const warm = this.warm.get(m.id);
    const onHost = this.inflight.get(m.id) ?? new Map<string, InFlight>();
    // What the host will have warm when it reaches this prompt: its warm models after our prompts ahead.
    let ahead = [...(warm?.sets ?? [])];
    for (const r of onHost.values()) ahead = afterRun(ahead, r.shape.models, warm?.slots ?? 1);
    const cold = !isWarm(ahead, shape.models);
    const rec: InFlight = {
      jobId: job.id,
      promptId: job.prompt_id,
      shape,
      loadMs: cold ? this.speed.loadMs(m.id, shape.workflowId) : 0,
      runMs: this.speed.runMs(m.id, shape.workflowId, shape.units),
    };
    onHost.set(job.id, rec);
    this.inflight.set(m.id, onHost);
    warm?.expect(job.prompt_id, shape.models);
    this.timing.track(job.prompt_id, loaderNodes(job.graph), (t) => {
      this.speed.recordRun(m.id, shape.workflowId, shape, t.runMs);
      // A loader that ran loaded something (a warm one is cached and sends no event). A cold start measures
      // the load even when it was cheap, so hosts learn that loads cost them little; a loader that ran on
      // a model we thought warm counts only if it took real time (our belief was wrong).
      if (t.loaderRan && (cold || t.loadMs >= LOAD_NOISE_MS))
        this.speed.recordLoad(m.id, shape.workflowId, t.loadMs);
      if (t.loaderRan && t.loadMs >= LOAD_NOISE_MS) this.opts.onModelLoad?.(m.id);
    });
  }

  /** Our prompt left the host (ended, failed, cancelled, or we let go of it). */
  ended(jobId: string, backendId: string): void {
    const rec = this.inflight.get(backendId)?.get(jobId);
    if (!rec) return;
    this.inflight.get(backendId)!.delete(jobId);
    // Its end event has been handled by now if it came; a prompt that failed must not be timed later.
    this.timing.forget(rec.promptId);
  }

  /** What /api/backends shows beside the scheduler's own fields. */
  describe(backendId: string): Record<string, unknown> {
    const warm = this.warm.get(backendId);
    return {
      model_slots: warm?.slots ?? 1,
      warm_models: warm?.list() ?? [],
      speed: this.speed.describe(backendId),
    };
  }

  private rank(g: QueueGroup): number {
    if (this.aged(g)) return 0;
    const set = modelSetFrom(g.requirements.models);
    for (const line of this.round?.lines.values() ?? []) if (line.open && isWarm(line.warm, set)) return 0;
    return 1;
  }

  private aged(g: QueueGroup): boolean {
    return Date.now() - Date.parse(g.head.created_at) >= this.opts.agingMs;
  }

  private remember(jobId: string, e: Explanation): void {
    if (this.explanations.size >= SHAPES_MAX) this.explanations.clear();
    this.explanations.set(jobId, { at: Date.now(), e });
  }

  /** The lines of hosts that could take this job once they have room. */
  private eligible(req: Requirements, hint: SelectOptions, lines: Map<string, HostLine>): HostLine[] {
    return [...lines.values()].filter(
      (line) => this.scheduler.waitReason(this.scheduler.get(line.backendId), req, hint) === null,
    );
  }

  private estimates(lines: readonly HostLine[], shape: JobShape): Estimate[] {
    return lines.map((line) => estimateOn(line, shape, this.speed));
  }

  /** Every online host's line now: what it holds, in its order, and what it will have warm after it. */
  private lines(now: number): Map<string, HostLine> {
    const lines = new Map<string, HostLine>();
    for (const m of this.scheduler.all()) {
      if (m.snapshot.state !== "online") continue;
      const s = m.snapshot;
      const slots = this.warm.get(m.id)?.slots ?? 1;
      let warm = [...(this.warm.get(m.id)?.sets ?? [])];
      const mine = this.inflight.get(m.id) ?? new Map<string, InFlight>();
      const byPrompt = new Map([...mine.values()].map((r) => [r.promptId, r]));
      const ours = new Set(s.ours.map((i) => i.prompt_id));
      const counted = new Set<string>();
      let freeInMs = 0;
      s.items.forEach((item, i) => {
        const r = byPrompt.get(item.prompt_id);
        if (r) {
          freeInMs += this.remaining(r, now);
          counted.add(r.jobId);
          warm = afterRun(warm, r.shape.models, slots);
        } else if (!ours.has(item.prompt_id)) {
          const set = modelSetOf(item.prompt);
          const work = item.prompt ? workOf(item.prompt as ApiGraph) : ({ units: 1, unit: "job" } as const);
          let ms =
            this.speed.anyRunMs(m.id, work.units, work.unit) +
            (isWarm(warm, set) ? 0 : this.speed.loadMs(m.id, ""));
          if (i < s.queue_running) ms = this.foreignRemaining(item.prompt_id, ms, now);
          freeInMs += ms;
          warm = afterRun(warm, set, slots);
        }
      });
      // Sent since the last poll, so not in the host's queue as we last saw it.
      for (const r of mine.values()) {
        if (counted.has(r.jobId)) continue;
        freeInMs += this.remaining(r, now);
        warm = afterRun(warm, r.shape.models, slots);
      }
      lines.set(m.id, {
        backendId: m.id,
        freeInMs,
        warm,
        planned: new Set(),
        slots,
        open: this.scheduler.roomReason(m) === null,
        ahead: s.foreign_queued + this.scheduler.inflight(m.id),
        vramFree: s.vram_free ?? 0,
        weight: m.config.weight,
        lastPicked: this.lastPicked.get(m.id) ?? 0,
      });
    }
    return lines;
  }

  private remaining(r: InFlight, now: number): number {
    const est = r.loadMs + r.runMs;
    const started = this.timing.startedAt(r.promptId);
    if (started === null) return est;
    return Math.max(est - (now - started), OVERRUN_SHARE * est);
  }

  private foreignRemaining(promptId: string, est: number, now: number): number {
    if (!this.foreignSince.has(promptId)) {
      if (this.foreignSince.size >= SHAPES_MAX) this.foreignSince.clear();
      this.foreignSince.set(promptId, now);
    }
    return Math.max(est - (now - this.foreignSince.get(promptId)!), OVERRUN_SHARE * est);
  }

  /** A queued job's size and models, read from its graph once. */
  private shapeOf(jobId: string, known?: Job): JobShape | null {
    const cached = this.shapes.get(jobId);
    if (cached) return cached;
    const job = known ?? this.jobOf(jobId);
    if (!job) return null;
    if (this.shapes.size >= SHAPES_MAX) this.shapes.clear();
    const shape = { workflowId: job.workflow_id, ...workOf(job.graph), models: modelSetOf(job.graph) };
    this.shapes.set(jobId, shape);
    return shape;
  }
}

const s = (ms: number) => Number((ms / 1000).toFixed(3));

/** Node ids of the loaders in a graph: where a model switch spends its time. */
function loaderNodes(graph: ApiGraph): Set<string> {
  const ids = new Set<string>();
  for (const [id, node] of Object.entries(graph)) {
    if (modelSetOf({ [id]: node })) ids.add(id);
  }
  return ids;
}

function describeModels(models: ModelSet | null): string {
  return models ? models.key.replace(/\.(safetensors|ckpt|pt|pth|bin|gguf|sft)$/gi, "") : "its models";
}

function explain(p: Planned): Explanation {
  const estimates = p.all.map((e) => ({
    backend_id: e.backendId,
    expected_s: s(e.totalMs),
    wait_s: s(e.waitMs),
    load_s: s(e.loadMs),
    run_s: s(e.runMs),
  }));
  const alt = p.all
    .filter((e) => e.backendId !== p.est.backendId)
    .sort((a, b) => Number(b.open) - Number(a.open) || a.totalMs - b.totalMs)[0];
  const where = p.est.warm
    ? `${p.est.backendId}, which has ${describeModels(p.shape.models)} warm`
    : `${p.est.backendId} (it will load ${describeModels(p.shape.models)})`;
  const versus = alt
    ? ` vs ${seconds(alt.totalMs)} on ${alt.backendId}${alt.loadMs > 0 ? " with a model load" : ""}${alt.open ? ", which is free" : ""}`
    : "";
  const reason = p.est.open
    ? `next on ${where}: expected ${seconds(p.est.totalMs)}${versus}`
    : `waiting for ${where}: expected ${seconds(p.est.totalMs)}${versus}`;
  return { reason, backend_id: p.est.backendId, estimates };
}
