// node-postgres driver. Connection-level failures become LedgerUnavailableError so that callers can
// tell "nothing was written, retry later" from a real SQL error.
import { Pool, type PoolClient } from "pg";
import { LedgerUnavailableError } from "./ledger";
import { sqlState, type Queryable, type Row, type SqlDriver } from "./sql-driver";

const SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

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
    await pool.end().catch(() => undefined);
    throw classify(err);
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
    close: () => pool.end(),
  };
}
