// The job list's page cursor: opaque to clients (base64url of a tagged position), so what a page boundary
// is made of can change without breaking them. A bare number, the cursor older servers handed out, still
// reads as the position it always meant.

/** The position is a job's seq: the same on every replica, as every replica numbers jobs in one database. */
export function encodeCursor(seq: number): string {
  return Buffer.from(`s${seq}`, "utf8").toString("base64url");
}

/** The seq a cursor stands for, or null when it is not a cursor this server handed out. */
export function decodeCursor(cursor: string): number | null {
  if (/^\d{1,19}$/.test(cursor)) return Number(cursor);
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(cursor)) return null;
  const m = /^s(\d{1,19})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  return m ? Number(m[1]) : null;
}
