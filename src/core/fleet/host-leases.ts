// Host leases on PostgreSQL: one replica drives each ComfyUI host at a time. Every lease_s/3 a replica beats
// (replicas row), renews the leases it holds, and aims at ceil(hosts / live replicas) of them: it takes free
// or expired ones (a dead replica's, after lease_s) and hands back an idle surplus one so a new replica gets
// work. Under steady load no host is ever idle, so a replica above its share with no idle host hands one over:
// the host with the fewest prompts in flight takes no new dispatch here, and its lease is released once its
// prompts have ended (no job fails or retries for it); one host at a time, never below the share. A lease it cannot renew in time — taken by another, or the database unreachable for most of lease_s —
// it gives up locally before the database's expiry lets anyone else take it (README: Running several replicas).
import type { Logger } from "pino";
import type { HostDriving } from "./host-driving.js";
import type { LeaseStore } from "./lease-store.js";
import type { ReplicaRegistry } from "./replica-registry.js";

export interface LeaseHooks {
  /** Every host in this replica's fleet. */
  hosts(): string[];
  /** Nothing of ours in flight on the host: it can be handed back without detaching anything. */
  idle(id: string): boolean;
  /** Prompts of ours in flight on the host (the host that ends soonest is the one handed over). */
  inflight(id: string): number;
  /** Stop (true) or resume (false) new dispatches to a host this replica still drives, while handing it over. */
  handOver(id: string, on: boolean): void;
  /** Whether the engine drives the host (a host re-registered under the same id starts undriven). */
  driving(id: string): boolean;
  /** The lease is ours: dispatch there, and re-attach to what its last driver left running. */
  acquired(id: string): void;
  /** The lease is gone or handed back: stop dispatching and detach from the host's prompts. */
  lost(id: string): void;
  /** After each round: what this replica drives now (the host-state publisher's heartbeat). */
  beat(drives: string[]): void;
  /** A database failure in a round: true if it was one (storage health took note), false to log it. */
  storageFault(err: unknown): boolean;
}

/**
 * Rounds a host being handed over may take to finish its prompts (no taker can have it before): past them it
 * is this replica's own again, and as many rounds pass before the next hand-over, so long prompts are not held
 * off the host for nothing over and over.
 */
const HANDOVER_ROUNDS = 15;

export class HostLeases implements HostDriving {
  readonly leased = true;
  /** Held hosts and, per host, when our lease ends at the latest by our own (monotonic) clock. */
  private readonly held = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private url: string | null = null;
  /** The one host being handed over, and the rounds it has waited for its prompts to end. */
  private handing: { id: string; rounds: number } | null = null;
  /** Rounds left before another hand-over may start (after one that found no end). */
  private rest = 0;
  private readonly intervalMs: number;

  constructor(
    private readonly leases: LeaseStore,
    private readonly registry: ReplicaRegistry,
    private readonly leaseMs: number,
    private readonly hooks: LeaseHooks,
    private readonly log: Logger,
  ) {
    this.intervalMs = Math.max(50, leaseMs / 3);
  }

  get replicaId(): string {
    return this.registry.replicaId;
  }

  drives(): string[] {
    return [...this.held.keys()].sort();
  }

  holders(): Map<string, string> {
    const holders = this.leases.holders();
    for (const id of this.held.keys()) holders.set(id, this.replicaId);
    return holders;
  }

  liveReplicas(): number {
    return this.registry.live(this.leaseMs);
  }

  confirm(backendId: string): boolean {
    const until = this.held.get(backendId);
    if (until === undefined) return false;
    // An event loop held up past the lease: the database may have given the host to another replica meanwhile.
    if (until > performance.now() && this.leases.holds(backendId)) return true;
    this.lose(backendId, "lease no longer ours when writing");
    return false;
  }

  undriven(backendId: string): boolean {
    return !this.leases.holders().has(backendId);
  }

  /** Joins and takes this replica's first share at once (start-up recovery runs for each host it gets). */
  start(): void {
    this.running = true;
    try {
      this.registry.join(null);
    } catch (err) {
      this.fault(err);
    }
    this.round();
  }

  announce(url: string): void {
    this.url = url;
  }

  pause(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** A clean stop: hands every lease back so another replica (or this one restarted) takes over at once. */
  stop(): void {
    this.pause();
    this.handing = null;
    const ids = [...this.held.keys()];
    this.held.clear();
    try {
      this.leases.release(ids);
      this.registry.leave();
      if (ids.length) this.log.info({ backends: ids }, "host leases handed back");
    } catch (err) {
      this.fault(err);
    }
  }

  private round(): void {
    const began = performance.now();
    const lostNow = new Set<string>();
    // A round that comes too late (the event loop was held up) must not renew what may be another's already.
    for (const [id, until] of this.held) {
      if (until > began) continue;
      this.lose(id, "lease ran out before it could be renewed");
      lostNow.add(id);
    }
    try {
      this.registry.beat(this.drives(), this.url);
      const renewed = this.leases.renew([...this.held.keys()], this.leaseMs);
      for (const id of [...this.held.keys()]) {
        if (renewed.has(id)) this.held.set(id, began + this.leaseMs);
        else {
          this.lose(id, "lease taken over or expired");
          lostNow.add(id);
        }
      }
      const hosts = this.hooks.hosts();
      const known = new Set(hosts);
      const gone = [...this.held.keys()].filter((id) => !known.has(id));
      for (const id of gone) this.held.delete(id);
      this.leases.release(gone);
      for (const id of this.held.keys()) if (!this.hooks.driving(id)) this.hooks.acquired(id);
      this.spread(hosts, lostNow);
    } catch (err) {
      this.fault(err);
      // The next round may come too late to renew: give up now what would expire before it.
      const limit = performance.now() + this.intervalMs;
      for (const [id, until] of this.held) if (until <= limit) this.lose(id, "database unreachable");
    }
    try {
      this.hooks.beat(this.drives());
    } catch (err) {
      this.fault(err);
    }
    if (this.running) {
      this.timer = setTimeout(() => this.round(), this.intervalMs);
      this.timer.unref();
    }
  }

  /** Takes free hosts up to this replica's share, or hands back one idle host above it. */
  private spread(hosts: readonly string[], lostNow: ReadonlySet<string>): void {
    const live = Math.max(1, this.registry.live(this.leaseMs));
    const share = Math.ceil(hosts.length / live);
    // Lost meanwhile, or the share grew (a replica died, a host was added): the host is no surplus any more.
    if (this.handing && (!this.held.has(this.handing.id) || this.held.size <= share)) this.endHandover();
    if (this.held.size < share) {
      const holders = this.leases.holders();
      // Ours from a previous process under the same id first: its prompts are waiting to be re-attached.
      const free = hosts
        .filter(
          (id) =>
            !this.held.has(id) && !lostNow.has(id) && (holders.get(id) ?? this.replicaId) === this.replicaId,
        )
        .sort((a, b) => Number(holders.has(b)) - Number(holders.has(a)));
      for (const id of free) {
        if (this.held.size >= share) break;
        const asked = performance.now();
        if (!this.leases.acquire(id, this.leaseMs)) continue;
        this.held.set(id, asked + this.leaseMs);
        this.log.info({ backend_id: id, share, replicas: live }, "host lease acquired: driving this host");
        this.hooks.acquired(id);
      }
    } else if (this.held.size > share) this.shed(share, live);
  }

  /** Hands back an idle host above the share, or starts (or waits out) handing over a busy one. */
  private shed(share: number, live: number): void {
    const h = this.handing;
    const ids = this.drives().reverse();
    const spare = h && this.hooks.idle(h.id) ? h.id : ids.find((id) => this.hooks.idle(id));
    if (spare) {
      if (spare === h?.id) this.handing = null;
      this.held.delete(spare);
      this.hooks.lost(spare);
      this.leases.release([spare]);
      this.log.info(
        { backend_id: spare, share, replicas: live },
        "host lease handed back: more replicas than before",
      );
      return;
    }
    if (h) {
      if (++h.rounds < HANDOVER_ROUNDS) return;
      this.log.info(
        { backend_id: h.id },
        "host hand-over given up: its prompts did not end; driving it again",
      );
      this.endHandover();
      this.rest = HANDOVER_ROUNDS;
      return;
    }
    if (this.rest > 0) {
      this.rest--;
      return;
    }
    const pick = ids.reduce((a, b) => (this.hooks.inflight(b) < this.hooks.inflight(a) ? b : a));
    this.handing = { id: pick, rounds: 0 };
    this.hooks.handOver(pick, true);
    this.log.info(
      { backend_id: pick, share, replicas: live, inflight: this.hooks.inflight(pick) },
      "host being handed over: no new work here, its lease goes once its prompts end",
    );
  }

  private endHandover(): void {
    const id = this.handing?.id;
    this.handing = null;
    if (id && this.held.has(id)) this.hooks.handOver(id, false);
  }

  private lose(id: string, why: string): void {
    this.held.delete(id);
    if (this.handing?.id === id) this.handing = null;
    this.log.warn({ backend_id: id, why }, "host lease lost: detaching from this host's prompts");
    this.hooks.lost(id);
  }

  private fault(err: unknown): void {
    if (!this.hooks.storageFault(err)) this.log.error({ err }, "host lease round failed");
  }
}
