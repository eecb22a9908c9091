// Shutdown, as clients see it: from the moment it begins every new request (and a submit whose body was
// still arriving) is refused 503 SHUTTING_DOWN with Retry-After, so no job is created that the client
// never hears of, and the connection is closed so a keep-alive client reconnects elsewhere or later.
import type { FastifyInstance, FastifyReply } from "fastify";
import { AppError } from "../errors.js";

/** Seconds a client should wait before retrying: a restart usually takes a few. */
export const SHUTDOWN_RETRY_AFTER_S = 5;

export function refuseWhileDraining(app: FastifyInstance, draining: AbortSignal): void {
  const refuse = async (_req: unknown, reply: FastifyReply) => {
    if (!draining.aborted) return;
    reply.header("retry-after", String(SHUTDOWN_RETRY_AFTER_S)).header("connection", "close");
    throw new AppError("SHUTTING_DOWN", "The server is shutting down; retry in a few seconds", {
      retry_after_s: SHUTDOWN_RETRY_AFTER_S,
    });
  };
  app.addHook("onRequest", refuse);
  // Again once the body has arrived: shutdown may have begun while a slow client was still sending it.
  app.addHook("preHandler", refuse);
}
