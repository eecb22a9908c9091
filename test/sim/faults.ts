// Fault injection: the failures a fleet of real hosts produces (crashes, dropped sockets, 5xx, hangs, node
// exceptions, OOM), armed in-process or over POST /_sim/fault, each expiring after `count` hits when given.

export type Fault =
  | { kind: "refuse_connections" }
  | { kind: "drop_ws_mid_prompt" }
  | { kind: "crash_mid_prompt"; restart_after_ms?: number }
  | { kind: "http_error"; route: string; status?: number; count?: number }
  | { kind: "hang"; route: string; count?: number }
  | { kind: "execution_error"; node_id?: string; class_type?: string; message?: string; count?: number }
  | { kind: "oom"; node_id?: string; class_type?: string; count?: number }
  | { kind: "slow_view"; delay_ms: number; count?: number }
  | { kind: "slow_node"; delay_ms: number; node_id?: string; class_type?: string; count?: number };

export type FaultKind = Fault["kind"];
type FaultOf<K extends FaultKind> = Extract<Fault, { kind: K }>;

const KINDS: FaultKind[] = [
  "refuse_connections",
  "drop_ws_mid_prompt",
  "crash_mid_prompt",
  "http_error",
  "hang",
  "execution_error",
  "oom",
  "slow_view",
  "slow_node",
];

/** Checks a fault that arrived as JSON; returns an error message or the fault. */
export function parseFault(body: unknown): Fault | string {
  if (typeof body !== "object" || body === null) return "fault must be a JSON object";
  const f = body as Record<string, unknown>;
  if (!KINDS.includes(f.kind as FaultKind))
    return `unknown fault kind ${JSON.stringify(f.kind)}; one of ${KINDS.join(", ")}`;
  if ((f.kind === "http_error" || f.kind === "hang") && typeof f.route !== "string")
    return `${f.kind} needs a route`;
  if ((f.kind === "slow_view" || f.kind === "slow_node") && typeof f.delay_ms !== "number")
    return `${f.kind} needs delay_ms`;
  if (f.count !== undefined && (typeof f.count !== "number" || f.count < 1))
    return "count must be a positive number";
  return f as Fault;
}

/** "/api/history/x" and "/history/x" are the same route to a fault. */
export function stripApi(p: string): string {
  return p === "/api" || p.startsWith("/api/") ? p.slice(4) || "/" : p;
}

export class FaultBook {
  private armed: Array<{ fault: Fault; remaining: number }> = [];

  add(fault: Fault): void {
    // Mid-prompt faults fire once; the others last until cleared unless given a count.
    const once = fault.kind === "drop_ws_mid_prompt" || fault.kind === "crash_mid_prompt";
    const count =
      "count" in fault && fault.count !== undefined ? fault.count : once ? 1 : Number.POSITIVE_INFINITY;
    this.armed.push({ fault, remaining: count });
  }

  clear(): void {
    this.armed = [];
  }

  list(): Fault[] {
    return this.armed.map((a) => a.fault);
  }

  has(kind: FaultKind): boolean {
    return this.armed.some((a) => a.fault.kind === kind);
  }

  remove(kind: FaultKind): void {
    this.armed = this.armed.filter((a) => a.fault.kind !== kind);
  }

  /** Consumes one hit of the first armed fault of `kind` that `match` accepts. */
  take<K extends FaultKind>(kind: K, match: (f: FaultOf<K>) => boolean = () => true): FaultOf<K> | undefined {
    const found = this.armed.find((a) => a.fault.kind === kind && match(a.fault as FaultOf<K>));
    if (!found) return undefined;
    found.remaining--;
    if (found.remaining <= 0) this.armed = this.armed.filter((a) => a !== found);
    return found.fault as FaultOf<K>;
  }

  /** The http_error or hang fault for a request path, consuming a hit. */
  takeForRoute(path: string): FaultOf<"http_error"> | FaultOf<"hang"> | undefined {
    const p = stripApi(path);
    if (p.startsWith("/_sim")) return undefined;
    const matches = (f: { route: string }) => p.startsWith(stripApi(f.route));
    return this.take("hang", matches) ?? this.take("http_error", matches);
  }

  /** The exception a node should raise, if an execution_error or oom fault targets it. */
  takeForNode(nodeId: string, classType: string): { type: string; message: string } | undefined {
    const targets = (f: { node_id?: string; class_type?: string }, defaultClass?: string) => {
      const wantClass = f.class_type ?? (f.node_id === undefined ? defaultClass : undefined);
      return (
        (f.node_id === undefined || f.node_id === nodeId) &&
        (wantClass === undefined || wantClass === classType)
      );
    };
    const oom = this.take("oom", (f) => targets(f, "KSampler"));
    if (oom) {
      return {
        type: "torch.OutOfMemoryError",
        message:
          "CUDA out of memory. Tried to allocate 2.50 GiB. GPU 0 has a total capacity of 23.99 GiB of which 1.12 GiB is free. " +
          "Of the allocated memory 19.87 GiB is allocated by PyTorch, and 1.43 GiB is reserved by PyTorch but unallocated.",
      };
    }
    const err = this.take("execution_error", (f) => targets(f));
    if (err)
      return {
        type: "RuntimeError",
        message: err.message ?? `Simulated failure in ${classType} (node ${nodeId})`,
      };
    return undefined;
  }
}
