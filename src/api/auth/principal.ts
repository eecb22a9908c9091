// Who a request acts as, and what that lets it see. While access control is off every request is OPEN.
import type { Role } from "../../config-auth.js";

export interface Principal {
  /** The key id, recorded as each job's `owner`; null while access control is off. */
  id: string | null;
  name: string | null;
  role: Role;
  /** 0: unlimited. */
  rateLimitPerMin: number;
  maxQueued: number;
}

export const OPEN: Principal = { id: null, name: null, role: "admin", rateLimitPerMin: 0, maxQueued: 0 };

const RANK: Record<Role, number> = { read: 0, submit: 1, admin: 2 };

/** read < submit < admin: each role may do everything the one below it may. */
export function roleAllows(has: Role, needs: Role): boolean {
  return RANK[has] >= RANK[needs];
}

/** Admins see every job; other keys only their own. */
export function canSeeJob(p: Principal, owner: string | null): boolean {
  return p.role === "admin" || (p.id !== null && owner === p.id);
}

/** The owner filter for job lists: undefined means all jobs. */
export function ownerFilter(p: Principal): string | undefined {
  return p.role === "admin" ? undefined : (p.id ?? "");
}
