// The per-connection queue behind /api/ws and SSE: writes straight through while the socket keeps up,
// coalesces progress (never state changes) while it lags, and gives up past the hard limit.
import { describe, expect, it } from "vitest";
import { OutboundQueue, type Sink } from "../../src/api/outbound-queue.js";

/** A socket whose buffer the test fills and drains by hand. */
class ManualSink implements Sink {
  level = 0;
  written: string[] = [];
  private callbacks: Array<() => void> = [];

  buffered(): number {
    return this.level;
  }

  write(data: string | Buffer, flushed: () => void): void {
    this.written.push(data.toString());
    this.level += data.length;
    this.callbacks.push(flushed);
  }

  /** The kernel took everything: run the write callbacks as a socket would. */
  drain(): void {
    this.level = 0;
    for (const cb of this.callbacks.splice(0)) cb();
  }
}

const limits = { coalesceBytes: 100, maxBytes: 1000 };

describe("OutboundQueue", () => {
  it("writes straight through while the socket keeps up", () => {
    const sink = new ManualSink();
    const q = new OutboundQueue(sink, limits, () => expect.unreachable());
    q.push("a");
    q.pushLatest("p:1", "p1");
    q.pushLatest("p:1", "p2");
    expect(sink.written).toEqual(["a", "p1", "p2"]);
    expect(q.pending).toBe(0);
  });

  it("keeps only the newest progress per key while the socket lags, and never drops a state change", () => {
    const sink = new ManualSink();
    const q = new OutboundQueue(sink, limits, () => expect.unreachable());
    sink.level = 150;
    q.push("0-queued");
    q.pushLatest("p:1", "1-progress-a");
    q.pushLatest("p:2", "2-progress-a");
    q.push("1-output");
    q.pushLatest("p:1", "1-progress-b");
    q.push("1-completed");
    q.pushLatest("p:2", "2-progress-b");
    // The first goes out (nothing of ours was in flight); the rest wait for it to drain.
    expect(sink.written).toEqual(["0-queued"]);
    sink.drain();
    // The replaced progress left its place and the newer one kept its own, so order (seq) holds.
    expect(sink.written).toEqual(["0-queued", "1-output", "1-progress-b", "1-completed", "2-progress-b"]);
    expect(q.pending).toBe(0);
  });

  it("resumes as the socket drains, stopping again whenever its buffer passes the soft limit", () => {
    const sink = new ManualSink();
    const q = new OutboundQueue(sink, limits, () => expect.unreachable());
    const big = (n: number) => `${n}`.padEnd(60, ".");
    for (let i = 0; i < 5; i++) q.push(big(i));
    // 60 bytes written, 120 > 100 after the second: the rest waits.
    expect(sink.written).toHaveLength(2);
    sink.drain();
    expect(sink.written).toHaveLength(4);
    sink.drain();
    expect(sink.written.map((w) => w[0])).toEqual(["0", "1", "2", "3", "4"]);
  });

  it("gives up once more than maxBytes are unsent, and ignores later messages", () => {
    const sink = new ManualSink();
    const overflows: number[] = [];
    const q = new OutboundQueue(sink, limits, (unsent) => overflows.push(unsent));
    sink.level = 500;
    for (let i = 0; i < 10; i++) q.push("x".repeat(100));
    expect(overflows).toHaveLength(1);
    expect(overflows[0]).toBeGreaterThan(limits.maxBytes);
    q.push("late");
    sink.drain();
    expect(sink.written).toEqual(["x".repeat(100)]);
    expect(q.pending).toBe(0);
  });

  it("tells when everything queued has been handed to the socket", () => {
    const sink = new ManualSink();
    const q = new OutboundQueue(sink, limits, () => expect.unreachable());
    sink.level = 200;
    q.push("first");
    q.push("last");
    let drained = false;
    q.whenDrained(() => {
      drained = true;
    });
    expect(drained).toBe(false);
    sink.drain();
    expect(drained).toBe(true);
    expect(sink.written).toEqual(["first", "last"]);
  });
});
