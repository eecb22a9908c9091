// The /ws sessions of server.py: one socket per client id (a reconnect with the same id takes the session over),
// JSON events to one client or to all, and binary preview frames with their 4-byte big-endian headers.
import { randomUUID } from "node:crypto";
import type { WebSocket } from "ws";
import { pyDumps } from "./python-compat.js";

export const PREVIEW_IMAGE = 1;
export const FORMAT_PNG = 2;

export class WsHub {
  private readonly sockets = new Map<string, WebSocket>();
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
      if (this.sockets.get(sid) === ws) this.sockets.delete(sid);
    });
    ws.on("error", () => {});
    return sid;
  }

  /** server.send_json: to `sid` when given (dropped if that client has no socket), else to everyone. */
  send(event: string, data: unknown, sid?: string | null): void {
    this.deliver(pyDumps({ type: event, data }), sid);
  }

  sendPreview(png: Buffer, sid?: string | null): void {
    const header = Buffer.alloc(8);
    header.writeUInt32BE(PREVIEW_IMAGE, 0);
    header.writeUInt32BE(FORMAT_PNG, 4);
    this.deliver(Buffer.concat([header, png]), sid);
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
  }

  /** Closes every connection with a close frame (graceful shutdown). */
  closeAll(): void {
    for (const ws of this.all) ws.close(1001, "server shutting down");
    this.all.clear();
    this.sockets.clear();
  }
}
