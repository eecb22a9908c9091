// Start-up failures as one line per problem naming the config key, the way config validation reports
// them: folders checked before anything opens them, and errors thrown while starting translated.
import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import path from "node:path";
import type { Config } from "./config.js";

/** Problems with the folders and files the config names, found before any of them is opened. */
export function preflightProblems(config: Config): string[] {
  const problems: string[] = [];
  for (const [key, dir] of [
    ["data_dir", config.data_dir],
    ["log_dir", config.log_dir],
    ["workflows_dir", config.workflows_dir!],
  ] as const) {
    const p = folderProblem(dir);
    if (p) problems.push(`${key}: ${p}`);
  }
  if (config.database_path !== ":memory:") {
    const file = config.database_path;
    const st = statOrNull(file);
    if (st?.isDirectory()) problems.push(`database_path: ${file} is a directory, not a database file`);
    else if (st && !writable(file)) problems.push(`database_path: ${file} is read-only`);
    else if (!st) {
      const p = folderProblem(path.dirname(file));
      if (p) problems.push(`database_path: ${p}`);
    }
  }
  return problems;
}

/** Why `dir` cannot serve as a writable folder (created if missing), or null. */
function folderProblem(dir: string): string | null {
  const st = statOrNull(dir);
  if (st && !st.isDirectory()) return `${dir} is a file, not a folder`;
  if (!st) {
    try {
      mkdirSync(dir, { recursive: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOTDIR" || code === "EEXIST") return `${dir} cannot be created: a parent is a file`;
      if (code === "EACCES" || code === "EPERM" || code === "EROFS")
        return `${dir} cannot be created: permission denied`;
      return `${dir} cannot be created: ${(err as Error).message}`;
    }
  }
  return writable(dir) ? null : `${dir} is not writable`;
}

function statOrNull(p: string) {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}

function writable(p: string): boolean {
  try {
    accessSync(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** One line naming the key behind an error thrown while opening the database or listening. */
export function describeStartupError(err: unknown, config: Config): string {
  const e = err as NodeJS.ErrnoException & { code?: string };
  const { host, port } = config.server;
  const db = config.database_path;
  if (config.database_url && (e.name === "PgError" || e.code === "PG_SCHEMA_NEWER")) {
    return `database_url: ${pgProblem(e, config.database_url)}`;
  }
  switch (e.code) {
    case "EADDRINUSE":
      return `server.port: ${port} is already in use${host ? ` on ${host}` : ""}`;
    case "EACCES":
      if (e.syscall === "listen") return `server.port: ${port} needs more privileges than this process has`;
      break;
    case "EADDRNOTAVAIL":
      return `server.host: ${host} is not an address of this machine`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
    case "EAI_FAIL":
      return `server.host: "${host}" does not resolve`;
    case "SQLITE_NOTADB":
      return `database_path: ${db} is not an SQLite database`;
    case "SQLITE_READONLY":
      return `database_path: ${db} is read-only`;
    case "SQLITE_CANTOPEN":
      return `database_path: ${db} cannot be opened`;
    case "SQLITE_CORRUPT":
      return `database_path: ${db} is corrupt`;
    case "SQLITE_FULL":
      return `database_path: the disk holding ${db} is full`;
    case "SQLITE_BUSY":
      return `database_path: ${db} is locked by another process`;
  }
  if (e.name === "InstanceLockError") return e.message;
  if (typeof e.path === "string") {
    for (const key of ["data_dir", "log_dir", "workflows_dir"] as const) {
      const dir = config[key];
      if (dir && e.path.startsWith(dir)) return `${key}: ${e.message}`;
    }
  }
  return `could not start: ${e.message ?? String(err)}`;
}

/** What went wrong reaching PostgreSQL, naming the server but never the password. */
function pgProblem(e: { code?: string; detail?: string; message: string }, url: string): string {
  let where = "the server";
  try {
    const u = new URL(url);
    where = `${u.hostname}:${u.port || 5432}${u.pathname}`;
  } catch {
    // The URL was checked when the config was read; keep the generic name if it still does not parse.
  }
  switch (e.code === "PG_CONNECT" ? e.detail : e.code) {
    case "ECONNREFUSED":
      return `nothing accepts connections at ${where}`;
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return `the host of ${where} does not resolve`;
    case "28P01":
    case "28000":
      return `${where} refused the user or password (${e.message})`;
    case "3D000":
      return `${where}: ${e.message}`;
    case "PG_TIMEOUT":
      return `${where} did not answer in time`;
  }
  return `${where}: ${e.message}`;
}
