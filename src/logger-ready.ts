// Waits until every asynchronous log destination has opened its file: exiting earlier makes pino's exit
// flush throw ("sonic boom is not ready yet") over whatever message the process meant to leave.
import { once } from "node:events";
import pino, { type Logger } from "pino";

interface Destination extends NodeJS.EventEmitter {
  fd?: number;
}

export async function loggerReady(log: Logger): Promise<void> {
  const root = (log as unknown as Record<symbol, unknown>)[pino.symbols.streamSym] as
    | (Destination & { streams?: { stream: Destination }[] })
    | undefined;
  const streams: (Destination | undefined)[] = Array.isArray(root?.streams)
    ? root.streams.map((s) => s.stream)
    : [root];
  await Promise.all(
    streams.map(async (s) => {
      if (!s || typeof s.fd !== "number" || s.fd >= 0) return;
      const [event, detail] = await Promise.race([
        once(s, "ready").then(() => ["ready", null] as const),
        once(s, "error").then(([err]) => ["error", err as Error] as const),
      ]);
      if (event === "error") throw detail;
    }),
  );
}
