// Which ComfyUI hosts this replica drives (dispatches to, counts the slots of, follows the prompts on). With
// replicas on PostgreSQL that is decided by host leases (host-leases.ts); on SQLite the one server drives
// every host, and AlwaysHolder says so, so the engine and the API have one code path either way.
import type { Scheduler } from "../engine/scheduler.js";

export interface HostDriving {
  readonly replicaId: string;
  /** Whether hosts are shared by lease (PostgreSQL) rather than all driven here (SQLite). */
  readonly leased: boolean;
  /** Hosts this replica drives now. */
  drives(): string[];
  /** The replica driving each host now; a host nobody drives (its driver died, lease not yet taken) is absent. */
  holders(): Map<string, string>;
  /** Replicas alive now (null when there is only ever one). */
  liveReplicas(): number | null;
  /**
   * Before a write that only a host's driver may make (a dispatch to it, an attempt's end there): whether
   * this replica still drives it. False also gives the host up here, so nothing else of ours runs there.
   */
  confirm(backendId: string): boolean;
  /** Whether no replica drives `backendId`, so that jobs left on it may be requeued. */
  undriven(backendId: string): boolean;
  /** Takes this replica's first share of the hosts (and recovers each as it is taken). */
  start(): void;
  /** This replica's address for the others (the replicas row), once it listens. */
  announce(url: string): void;
  /** Stops renewing (the first step of a shutdown); stop() then hands the leases back. */
  pause(): void;
  stop(): void;
}

/** The one server on SQLite: every host is its own from the start, nothing to renew or hand back. */
export class AlwaysHolder implements HostDriving {
  readonly leased = false;

  constructor(
    readonly replicaId: string,
    private readonly scheduler: Scheduler,
  ) {}

  drives(): string[] {
    return this.scheduler.all().map((m) => m.id);
  }

  holders(): Map<string, string> {
    return new Map(this.drives().map((id) => [id, this.replicaId]));
  }

  liveReplicas(): null {
    return null;
  }

  undriven(): boolean {
    return true;
  }

  confirm(): boolean {
    return true;
  }

  start(): void {}
  announce(): void {}
  pause(): void {}
  stop(): void {}
}
