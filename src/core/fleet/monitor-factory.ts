// Builds the client and monitor of one host from its config entry, the same way at start-up and for
// hosts that join while running.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { ComfyUIClient } from "../../backends/client.js";
import { BackendMonitor } from "../../backends/monitor.js";
import type { BackendConfig, Config } from "../../config.js";
import { credentialHeaders } from "../../config-auth.js";

export interface MonitorFactoryDeps {
  config: Pick<Config, "http" | "scheduler" | "jobs">;
  instanceId: string;
  /** A value kept in the database under `key`, made once by `make`. */
  persistentId(key: string, make: () => string): string;
  log: Logger;
  /** With replicas: this one's id, under which it watches the hosts it does not drive (see clientIdOf). */
  watchAs: string | null;
}

/**
 * A host's event-socket client id. Its driver uses the shared one, kept in the database across restarts and
 * failovers: reconnecting under it gets the running prompts' events back. Replicas that only watch the host
 * use ids of their own, since a host keeps one socket per id.
 */
export function clientIdOf(
  d: Pick<MonitorFactoryDeps, "persistentId">,
  backendId: string,
  watchAs: string | null,
): string {
  const shared = d.persistentId(`ws_client_id:${backendId}`, () => `orchestrator-${randomUUID()}`);
  return watchAs === null ? shared : `${shared}.${watchAs}`;
}

export function monitorFactory(d: MonitorFactoryDeps): (b: BackendConfig) => BackendMonitor {
  return (b) => {
    const scheme = b.tls ? "https" : "http";
    const client = new ComfyUIClient({
      baseUrl: `${scheme}://${b.host.includes(":") ? `[${b.host}]` : b.host}:${b.port}`,
      requestTimeoutMs: d.config.http.request_timeout_s * 1000,
      transferTimeoutMs: d.config.http.transfer_timeout_s * 1000,
      headers: credentialHeaders(b),
    });
    // With replicas every host starts watched only; its lease makes it driven (host-handover.ts).
    const clientId = clientIdOf(d, b.id, d.watchAs);
    return new BackendMonitor(
      b,
      client,
      clientId,
      {
        pollIntervalMs: d.config.scheduler.poll_interval_s * 1000,
        offlineAfter: d.config.scheduler.offline_after,
        slowResponseMs: d.config.scheduler.slow_response_ms,
        isOurs: (item) =>
          (item.extra_data.orchestrator as { instance?: string } | undefined)?.instance === d.instanceId,
        interruptWaitMs: d.config.jobs.interrupt_wait_s * 1000,
      },
      d.log,
    );
  };
}
