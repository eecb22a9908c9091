// The /ws sessions of server.py: one socket per client id (a reconnect with the same id takes the session over),
// JSON events to one client or to all, binary frames, and the feature flags each client negotiated.
import { randomUUID } from "node:crypto";
import type { WebSocket } from "ws";
import { pyDumps } from "./python-compat.js";

export class WsHub {
  private readonly sockets = new Map<string, WebSocket>();
  /** sockets_metadata[sid]["feature_flags"]: what a client said it supports in its first message. */
  private readonly flags = new Map<string, Record<string, unknown>>();
  /** Every open socket, including ones whose session a reconnect took over. */
  private readonly all = new Set<WebSocket>();

  /** Registers a socket for `clientId` (a fresh uuid hex when absent) and returns its sid. */
  attach(ws: WebSocket, clientId: string | null): string {
    const sid = clientId || randomUUID().replaceAll("-", "");
    this.sockets.set(sid, ws);
    this.all.add(ws);
    ws.on("close", () => {
      this.all.delete(ws);
      // Only forget the session if it still belongs to this socket: a reconnect may already own the id.
      if (this.sockets.get(sid) === ws) {
        this.sockets.delete(sid);
        this.flags.delete(sid);
      }
    });
    ws.on("error", () => {});
    return sid;
  }

  /** server.send_json: to `sid` when given (dropped if that client has no socket), else to everyone. */
  send(event: string, data: unknown, sid?: string | null): void {
    this.deliver(pyDumps({ type: event, data }), sid);
  }

  sendBinary(frame: Buffer, sid?: string | null): void {
    this.deliver(frame, sid);
  }

  setFlags(sid: string, flags: Record<string, unknown>): void {
    this.flags.set(sid, flags);
  }

  /** feature_flags.supports_feature: false for a broadcast (no sid) and for clients that never said. */
  supports(sid: string | null, feature: string): boolean {
    return sid !== null && this.flags.get(sid)?.[feature] === true;
  }

  private deliver(message: string | Buffer, sid?: string | null): void {
    const targets = sid == null ? [...this.sockets.values()] : [this.sockets.get(sid)];
    for (const ws of targets) {
      if (ws && ws.readyState === ws.OPEN) ws.send(message);
    }
  }

  connectedClients(): string[] {
    return [...this.sockets.keys()];
  }

  /** Drops every connection without a close frame, as a dead network or process would. */
  terminateAll(): void {
    for (const ws of this.all) ws.terminate();
    this.all.clear();
    this.sockets.clear();
    this.flags.clear();
  }

  /** Closes every connection with a close frame (graceful shutdown). */
  closeAll(): void {
    for (const ws of this.all) ws.close(1001, "server shutting down");
    this.all.clear();
    this.sockets.clear();
    this.flags.clear();
  }
}
