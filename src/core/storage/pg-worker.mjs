// The PostgreSQL side of PgSyncDatabase (pg-sync.ts), in a worker thread: it owns one connection, runs each
// statement the main thread sends, posts the answer back and wakes the main thread, which waits on the shared
// flag. Plain JavaScript: a worker is started by Node itself, outside tsx's and vitest's loaders.
import { workerData } from "node:worker_threads";
import pg from "pg";

const { url, port, flag, statementTimeoutMs, connectTimeoutMs } = workerData;
const signal = new Int32Array(flag);

// COUNT(*), SUM() and BIGSERIAL come back as int8 / numeric: as JavaScript numbers, like SQLite gives them.
pg.types.setTypeParser(20, (v) => Number(v));
pg.types.setTypeParser(1700, (v) => Number(v));

let client = null;

async function connection() {
  if (client) return client;
  const c = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    query_timeout: statementTimeoutMs + 1000,
    application_name: "orchestrator",
  });
  // A dropped connection fails the statement in flight; the next one reconnects.
  c.on("error", () => {
    if (client === c) client = null;
  });
  await c.connect();
  client = c;
  return c;
}

function reply(message) {
  port.postMessage(message);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

reply({ id: 0, ok: true });

port.on("message", async (msg) => {
  if (msg.op === "close") {
    await client?.end().catch(() => {});
    client = null;
    reply({ id: msg.id, ok: true });
    port.close();
    return;
  }
  let c;
  try {
    c = await connection();
  } catch (err) {
    // Whatever stops a connection (refused, a database closed to connections, a bad password) means the
    // server cannot be used now: one code for it, the server's own reason kept in `detail`.
    const cause = String(err.code ?? err.errno ?? "");
    reply({ id: msg.id, ok: false, error: { message: err.message, code: "PG_CONNECT", detail: cause } });
    return;
  }
  try {
    const r = await c.query({ text: msg.sql, values: msg.params, rowMode: undefined });
    reply({ id: msg.id, ok: true, rows: r.rows ?? [], changes: r.rowCount ?? 0 });
  } catch (err) {
    if (client && (err.code === undefined || String(err.code).startsWith("08") || err.code === "57P01")) {
      // Not a statement error: the connection itself is gone or unusable.
      const c = client;
      client = null;
      c.end().catch(() => {});
    }
    reply({
      id: msg.id,
      ok: false,
      error: {
        message: err.message,
        code: err.code ?? err.errno ?? "PG_ERROR",
        detail: err.detail,
        constraint: err.constraint,
      },
    });
  }
});
