// Fair share between clients: at equal priority the queue serves the owner (API key) served least
// recently, so dispatch alternates between owners and one client's thousand queued jobs do not make
// another's single job wait behind them. Priority is decided before this rule, so it still wins across levels.
import type { OrderingRule } from "./dispatch-queue.js";

/** When each owner last had a job dispatched. In memory: after a restart every owner starts even. */
export class ServiceLedger {
  private readonly last = new Map<string | null, number>();
  private dispatches = 0;

  served(owner: string | null): void {
    this.last.set(owner, ++this.dispatches);
  }

  /** 0 for an owner not served since start-up: it goes first. */
  lastServed(owner: string | null): number {
    return this.last.get(owner) ?? 0;
  }
}

export function byLeastRecentService(ledger: ServiceLedger): OrderingRule {
  return (a, b) =>
    a.head.owner === b.head.owner ? 0 : ledger.lastServed(a.head.owner) - ledger.lastServed(b.head.owner);
}
