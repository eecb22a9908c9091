// The API server's settings from the config (its MB, KB and seconds as bytes and ms), and the metrics its
// event streams count into: the part of ServerDeps that is configuration rather than another part.
import type { Config } from "../config.js";
import type { Metrics } from "../metrics/metrics.js";
import type { ServerDeps } from "./server.js";

export type ServerSettings = Pick<
  ServerDeps,
  | "bodyLimitBytes"
  | "maxImageBytes"
  | "maxWaitS"
  | "listLimitMax"
  | "publicUrl"
  | "eventStreams"
  | "corsOrigins"
>;

export function serverSettings(config: Config, metrics: Metrics): ServerSettings {
  return {
    bodyLimitBytes: config.server.body_limit_mb * 1024 * 1024,
    maxImageBytes: config.media.max_image_mb * 1024 * 1024,
    maxWaitS: config.server.max_wait_s,
    listLimitMax: config.jobs.list_limit_max,
    publicUrl: config.server.public_url,
    eventStreams: {
      pingIntervalMs: config.events.ping_interval_s * 1000,
      coalesceBytes: config.events.coalesce_buffer_kb * 1024,
      maxBytes: config.events.max_buffer_kb * 1024,
      stats: {
        opened: (transport) => metrics.eventSubscribers.inc({ transport }),
        closed: (transport) => metrics.eventSubscribers.dec({ transport }),
        coalesced: () => metrics.eventFramesCoalesced.inc(),
        dropped: () => metrics.eventClientsDropped.inc(),
      },
    },
    corsOrigins: config.server.cors_origins,
  };
}
