// node-postgres driver. Connection-level failures become LedgerUnavailableError so that callers can
// tell "nothing was written, retry later" from a real SQL error.
import { Client, Pool, type PoolClient } from "pg";
import { LedgerUnavailableError } from "./ledger";
import { sqlState, UNIQUE_VIOLATION, type Queryable, type Row, type SqlDriver, type Subscription } from "./sql-driver";

/** SQLSTATE duplicate_schema. */
const DUPLICATE_SCHEMA = "42P06";

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;
const CHANNEL = /^[a-z_][a-z0-9_]{0,62}$/;
/** Wait before reconnecting a LISTEN connection that was lost. */
const LISTEN_RETRY_MS = 1_000;

// SQLSTATE classes that mean the server or the connection went away, not that the SQL was wrong.
const UNAVAILABLE_STATES = /^(08|53|57P0[1-3])/;

function isUnavailable(err: unknown): boolean {
  const state = sqlState(err);
  if (state !== undefined) return UNAVAILABLE_STATES.test(state);
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return true; // ECONNREFUSED, ECONNRESET, ETIMEDOUT…
  const message = err instanceof Error ? err.message : "";
  return /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end/i.test(message);
}

function classify(err: unknown): unknown {
  if (err instanceof LedgerUnavailableError) return err;
  return isUnavailable(err) ? new LedgerUnavailableError(`ledger unavailable: ${err instanceof Error ? err.message : String(err)}`, err) : err;
}

export interface PgDriverOptions {
  url: string;
  /** Postgres schema for every table (tests use a unique one per run). Created when missing. */
  schema?: string;
  poolSizeMax?: number;
}

export async function openPgDriver(options: PgDriverOptions): Promise<SqlDriver> {
  const schema = options.schema ?? "public";
  if (!SCHEMA.test(schema)) throw new Error(`invalid schema name ${JSON.stringify(schema)}`);
  const pool = new Pool({
    connectionString: options.url,
    max: options.poolSizeMax ?? 10,
    connectionTimeoutMillis: 5_000,
    // search_path on every pooled connection, so the SQL never names a schema.
    options: `-c search_path=${schema}`,
  });
  // An idle client losing its server emits on the pool; without a listener that would crash the process.
  pool.on("error", () => undefined);
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
  } catch (err) {
    // Servers starting together on a fresh schema race inside IF NOT EXISTS (Postgres checks the
    // catalog, then inserts): the loser gets unique_violation or duplicate_schema, and the schema exists.
    if (sqlState(err) !== UNIQUE_VIOLATION && sqlState(err) !== DUPLICATE_SCHEMA) {
      await pool.end().catch(() => undefined);
      throw classify(err);
    }
  }

  async function run<T extends Row>(client: Pool | PoolClient, sql: string, params?: unknown[]): Promise<T[]> {
    try {
      return (await client.query(sql, params as unknown[])).rows as T[];
    } catch (err) {
      throw classify(err);
    }
  }

  async function exec(client: Pool | PoolClient, sql: string): Promise<void> {
    try {
      await client.query(sql); // no parameters: simple protocol, several statements allowed
    } catch (err) {
      throw classify(err);
    }
  }

  return {
    kind: "pg",
    query: (sql, params) => run(pool, sql, params),
    exec: (sql) => exec(pool, sql),
    async transaction(fn) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw classify(err);
      }
      const tx: Queryable = { query: (sql, params) => run(client, sql, params), exec: (sql) => exec(client, sql) };
      let broken = false;
      try {
        await tx.query("BEGIN");
        const result = await fn(tx);
        await tx.query("COMMIT");
        return result;
      } catch (err) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true; // the connection is gone; do not return it to the pool
        }
        throw classify(err);
      } finally {
        client.release(broken);
      }
    },
    listen: (channel, onPayload, onGap) => listen({ url: options.url, schema }, channel, onPayload, onGap),
    close: () => pool.end(),
  };
}

/** application_name of a schema's LISTEN connection (Postgres keeps 63 bytes). */
export function listenerName(schema: string): string {
  return `dream_listen_${schema}`.slice(0, 63);
}

/** One connection outside the pool (a pooled one would be handed to queries); reconnects until closed. */
async function listen(target: { url: string; schema: string }, channel: string, onPayload: (payload: string) => void, onGap: () => void): Promise<Subscription> {
  if (!CHANNEL.test(channel)) throw new Error(`invalid channel name ${JSON.stringify(channel)}`);
  let closed = false;
  let client: Client | undefined;
  let retry: NodeJS.Timeout | undefined;
  const connect = async (): Promise<void> => {
    // Named after the schema, so an operator (and a test) can see whose listener a connection is.
    const c = new Client({ connectionString: target.url, connectionTimeoutMillis: 5_000, options: `-c search_path=${target.schema}`, application_name: listenerName(target.schema) });
    c.on("notification", (m) => {
      if (m.channel === channel && m.payload !== undefined) onPayload(m.payload);
    });
    const lost = () => {
      if (closed || client !== c) return;
      client = undefined;
      void c.end().catch(() => undefined);
      retry = setTimeout(() => void reconnect(), LISTEN_RETRY_MS);
      retry.unref();
    };
    c.on("error", lost);
    c.on("end", lost);
    client = c;
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (err) {
      client = undefined;
      await c.end().catch(() => undefined);
      throw classify(err);
    }
    if (closed) await c.end().catch(() => undefined);
  };
  const reconnect = async (): Promise<void> => {
    if (closed) return;
    try {
      await connect();
      onGap();
    } catch {
      retry = setTimeout(() => void reconnect(), LISTEN_RETRY_MS);
      retry.unref();
    }
  };
  await connect();
  return {
    async close() {
      closed = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      await c?.end().catch(() => undefined);
    },
  };
}
