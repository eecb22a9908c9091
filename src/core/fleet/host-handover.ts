// What taking and giving up a host's lease means for the engine: the steps a new driver takes (its event
// socket under the shared client id, the host's learned speed re-read, start-up recovery for the host,
// warm-up if due, then dispatch) and those of a driver that lost it (no dispatch, detach, watch only).
import type { HostSpeed } from "../engine/host-speed.js";
import type { JobManager } from "../engine/job-manager.js";
import type { Scheduler } from "../engine/scheduler.js";
import type { Warmups } from "../engine/warmup.js";
import type { StorageHealth } from "../storage/storage-health.js";
import type { Fleet } from "./fleet.js";
import type { LeaseHooks } from "./host-leases.js";
import type { HostViews } from "./host-views.js";

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
}

export function handoverHooks(d: HandoverDeps): LeaseHooks {
  const monitor = (id: string) => d.scheduler.all().find((m) => m.id === id);
  return {
    hosts: () => d.scheduler.all().map((m) => m.id),
    idle: (id) => d.scheduler.inflight(id) === 0,
    driving: (id) => d.scheduler.drives(id),
    acquired: (id) => {
      const m = monitor(id);
      if (!m) return;
      m.useClientId(d.clientId(id, true));
      d.fleet.adoptStored();
      d.speed.reload(id);
      d.jobs.hostAcquired(m);
      // Last: should recovery fail (the database), the next lease round tries the whole step again.
      d.scheduler.setDriven(id, true);
      d.warmups.driven(m);
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
