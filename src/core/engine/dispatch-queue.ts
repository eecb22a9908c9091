// Picks the next queued job for a free slot without head-of-line blocking. Jobs are grouped by what
// placing them depends on (requirements and placement hints, hashed into the job's `queue_key` when it
// enters the queue): every job of a group looks the same to the scheduler, so a group no host can take
// costs one check however many jobs it holds, and a job an idle host can run never waits behind them.
//
// Choosing composes two steps, and ordering rules plug into them:
//  1. grouping: `queueKey` decides which jobs are alike. Within a group the order is always priority,
//     then FIFO (an index seek), so a rule that must order jobs *between* groups of equal needs (owners,
//     projects) first adds its dimension to the key's parts.
//  2. ordering: `OrderingRule`s compare the heads of the groups; the first rule that prefers one decides
//     (by default: higher priority, then older). A rule sees each head's group (requirements, hints).
// Each group's head is cached and re-read only when a job joins the group or its head is taken, so a
// dispatch pass costs O(groups), never O(queued jobs).
import { createHash } from "node:crypto";
import type { QueueHead, QueueIndex } from "../storage/queue-index.js";
import { type Requirements, requirementsOf } from "./requirements.js";
import type { SelectOptions } from "./scheduler.js";

/** What every job of one group shares: all the scheduler looks at to place it. */
export interface GroupSpec {
  requirements: Requirements;
  options: SelectOptions;
}

export interface QueueGroup extends GroupSpec {
  key: string;
  head: QueueHead;
}

/** Negative when `a` should go first, positive when `b` should, 0 to leave it to the next rule. */
export type OrderingRule = (a: QueueGroup, b: QueueGroup) => number;

export const byPriority: OrderingRule = (a, b) => b.head.priority - a.head.priority;
export const byAge: OrderingRule = (a, b) => a.head.seq - b.head.seq;
/** Ends the key of a group whose jobs belong to projects already under way (a retry, a later stage). */
export const STARTED = ".started";
export const startedKey = (key: string) => (key.endsWith(STARTED) ? key : `${key}${STARTED}`);
/** Among equal priorities, nodes of started projects go first, so whole shots finish early. */
export const startedProjectsFirst: OrderingRule = (a, b) =>
  a.head.priority !== b.head.priority ? 0 : Number(b.key.endsWith(STARTED)) - Number(a.key.endsWith(STARTED));
export const DEFAULT_ORDER: readonly OrderingRule[] = [byPriority, startedProjectsFirst, byAge];

/**
 * The group key: equal for two jobs exactly when the scheduler cannot tell them apart and every ordering
 * dimension (e.g. `owner` for fair share) is equal too. A null dimension adds nothing, so jobs without it
 * keep the key they had before the dimension existed.
 */
export function queueKey(spec: GroupSpec, dimensions: Record<string, string | null> = {}): string {
  const r = spec.requirements;
  const canonical = [
    [...r.capabilities].sort(),
    [...r.classTypes].sort(),
    r.models.map((m) => `${m.input}=${m.value}`).sort(),
    r.minVramBytes,
    [...(spec.options.exclude ?? [])].sort(),
    spec.options.minFreeVramBytes ?? null,
    ...Object.entries(dimensions)
      .filter(([, v]) => v !== null)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  ];
  return createHash("sha256").update(JSON.stringify(canonical)).digest("base64url").slice(0, 24);
}

interface GroupState {
  spec: GroupSpec | null;
  head: QueueHead | null;
  stale: boolean;
}

export class DispatchQueue {
  private readonly groups = new Map<string, GroupState>();
  /** Tells other replicas sharing the database that `key` gained work (set on PostgreSQL only). */
  announce: ((key: string) => void) | null = null;

  constructor(
    private readonly index: QueueIndex,
    /** The spec of the group `head` belongs to (null: the job is gone). */
    private readonly specOf: (head: QueueHead) => GroupSpec | null,
    private readonly rules: readonly OrderingRule[] = DEFAULT_ORDER,
  ) {}

  /** Reads the groups at start-up, first giving a key to jobs queued by a version without them. */
  load(): void {
    for (let batch = this.index.unkeyed(500); batch.length; batch = this.index.unkeyed(500)) {
      for (const id of batch) {
        const needs = this.index.needs(id);
        if (needs) this.index.setKey(id, queueKey({ requirements: requirementsOf(needs), options: {} }));
      }
    }
    this.reload();
  }

  /**
   * Re-reads which groups hold queued jobs (another replica may have queued work we were not told of).
   * With `settleMs`, only groups this queue does not know yet are added, and only if their head entered the
   * queue at least that long ago: a younger one's announcement is still on its way, and acting before it
   * would let this replica's events about the job precede the ones that queued it.
   */
  reload(settleMs = 0): void {
    const cutoff = new Date(Date.now() - settleMs).toISOString();
    for (const key of this.index.keys()) {
      if (settleMs === 0) {
        this.heard(key);
        continue;
      }
      if (this.groups.has(key)) continue;
      const head = this.index.head(key);
      if (head && head.updated_at <= cutoff) this.groups.set(key, { spec: null, head, stale: false });
    }
  }

  /** A job entered the queue under `key`: its group's head may have changed. */
  joined(key: string): void {
    this.heard(key);
    this.announce?.(key);
  }

  /** Another replica queued work under `key`: re-read its head, without announcing it again. */
  heard(key: string): void {
    const g = this.groups.get(key);
    if (g) g.stale = true;
    else this.groups.set(key, { spec: null, head: null, stale: true });
  }

  /** The group's head was taken (or found gone): its next job is read when next needed. */
  taken(key: string): void {
    this.heard(key);
  }

  /** The best group head, by the ordering rules, that `place` finds a target for (null: none can go now). */
  next<T>(place: (g: QueueGroup) => T | null): { group: QueueGroup; target: T } | null {
    const heads: QueueGroup[] = [];
    for (const [key, g] of this.groups) {
      if (g.stale) {
        g.head = this.index.head(key);
        g.stale = false;
      }
      if (!g.head) {
        this.groups.delete(key);
        continue;
      }
      g.spec ??= this.specOf(g.head);
      if (!g.spec) {
        g.stale = true; // its head vanished between two reads: look again next time
        continue;
      }
      heads.push({ key, head: g.head, ...g.spec });
    }
    heads.sort((a, b) => {
      for (const rule of this.rules) {
        const d = rule(a, b);
        if (d !== 0) return d;
      }
      return 0;
    });
    for (const group of heads) {
      const target = place(group);
      if (target !== null) return { group, target };
    }
    return null;
  }

  /** How many groups the queue has (what one dispatch pass costs). */
  get size(): number {
    return this.groups.size;
  }
}
