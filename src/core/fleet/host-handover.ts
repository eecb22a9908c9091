// What taking and giving up a host's lease means for the engine: the steps a new driver takes (its event
// socket under the shared client id, the host's learned speed re-read, start-up recovery for the host,
// warm-up if due, then dispatch) and those of a driver that lost it (no dispatch, detach, watch only).

import type { Logger } from "pino";
import type { HostSpeed } from "../engine/host-speed.js";
import type { JobManager } from "../engine/job-manager.js";
import type { Scheduler } from "../engine/scheduler.js";
import type { Warmups } from "../engine/warmup.js";
import type { PgSyncDatabase } from "../storage/pg-sync.js";
import type { StorageHealth } from "../storage/storage-health.js";
import type { Fleet } from "./fleet.js";
import { AlwaysHolder, type HostDriving } from "./host-driving.js";
import { HostLeases, type LeaseHooks } from "./host-leases.js";
import type { HostViews } from "./host-views.js";
import { LeaseStore } from "./lease-store.js";
import { ReplicaRegistry } from "./replica-registry.js";

export interface HandoverDeps {
  scheduler: Scheduler;
  fleet: Fleet;
  jobs: JobManager;
  speed: HostSpeed;
  warmups: Warmups;
  views: HostViews;
  /** The event-socket client id for a host: the shared one while driving it, one of this replica's otherwise. */
  clientId(backendId: string, driving: boolean): string;
  storage: StorageHealth;
  leaseMs: number;
}

/** Host leases on PostgreSQL (`pg`), else the one server driving every host. */
export function hostDriving(
  pg: PgSyncDatabase | null,
  o: { replicaId: string; log: Logger },
  d: HandoverDeps,
): HostDriving {
  if (!pg) return new AlwaysHolder(o.replicaId, d.scheduler);
  return new HostLeases(
    new LeaseStore(pg, o.replicaId),
    new ReplicaRegistry(pg, o.replicaId),
    d.leaseMs,
    handoverHooks(d),
    o.log,
  );
}

export function handoverHooks(d: HandoverDeps): LeaseHooks {
  const monitor = (id: string) => d.scheduler.all().find((m) => m.id === id);
  return {
    hosts: () => d.scheduler.all().map((m) => m.id),
    // A warm-up under way is no job, but handing the host over now would make its next driver warm it again.
    idle: (id) => d.scheduler.inflight(id) === 0 && !d.scheduler.isWarming(id),
    inflight: (id) => d.scheduler.inflight(id),
    handOver: (id, on) => {
      d.scheduler.setHandingOver(id, on);
      const m = monitor(id);
      if (m) d.views.publish(m, true);
      // Resumed: the host has room again for what waits.
      if (!on) d.jobs.kick();
    },
    driving: (id) => d.scheduler.drives(id),
    acquired: (id) => {
      // The fleet first: the host may have been changed, or removed, through another replica.
      d.fleet.adoptStored();
      const m = monitor(id);
      if (!m) return;
      m.useClientId(d.clientId(id, true));
      d.speed.reload(id);
      d.jobs.hostAcquired(m);
      // Last: should recovery fail (the database), the next lease round tries the whole step again.
      d.scheduler.setDriven(id, true);
      // Driven until moments ago (its driver died or handed it over): still warm if its warm-up had finished.
      d.warmups.driven(m, d.views.lastWarmup(id, 3 * d.leaseMs));
      d.views.publish(m, true);
      d.jobs.kick();
    },
    lost: (id) => {
      d.scheduler.setDriven(id, false);
      d.jobs.hostLost(id);
      d.views.forget(id);
      monitor(id)?.useClientId(d.clientId(id, false));
    },
    beat: (drives) => {
      d.jobs.stopCancelledElsewhere();
      d.fleet.adoptStored();
      for (const id of drives) {
        const m = monitor(id);
        if (m) d.views.publish(m, true);
      }
    },
    storageFault: (err) => d.storage.report(err),
  };
}
