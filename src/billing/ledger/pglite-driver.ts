// Embedded Postgres (PGlite, WASM): the default ledger when DATABASE_URL is unset. Persistent under a
// directory (guarded by a pid lock) or purely in memory for tests. PGlite runs one statement at a time
// and queues top-level queries behind an open transaction, so the same SQL keeps its meaning.
import { PGlite, type PGliteInterface } from "@electric-sql/pglite";
import { lockDataDir, type DirLock } from "./data-dir-lock";
import { byteaCodec } from "./pglite-codec";
import type { Queryable, Row, SqlDriver } from "./sql-driver";

export interface PgliteDriverOptions {
  /** Directory for the database files; undefined = in memory. */
  dir?: string;
}

export async function openPgliteDriver(options: PgliteDriverOptions): Promise<SqlDriver> {
  const lock: DirLock | undefined = options.dir === undefined ? undefined : lockDataDir(options.dir);
  let db: PGlite;
  try {
    db = options.dir === undefined ? await PGlite.create() : await PGlite.create(options.dir);
  } catch (err) {
    lock?.release();
    throw err;
  }
  return driverOver(db, lock);
}

/**
 * In-memory databases cloned from one template: booting PGlite costs seconds, cloning a booted and
 * migrated instance much less. For tests and benchmarks that need many fresh ledgers.
 */
export function pgliteCloner(prepare: (driver: SqlDriver) => Promise<unknown>): () => Promise<SqlDriver> {
  let template: Promise<PGliteInterface> | undefined;
  return async () => {
    template ??= (async () => {
      const db = await PGlite.create();
      await prepare(driverOver(db, undefined));
      return db;
    })();
    return driverOver(await (await template).clone(), undefined);
  };
}

/** The SqlDriver over an open PGlite (also what the ledger's PGlite thread runs its statements through). */
export function driverOver(db: PGliteInterface, lock: DirLock | undefined): SqlDriver {
  const run = async <T extends Row>(q: Pick<PGliteInterface, "query">, sql: string, params?: unknown[]): Promise<T[]> => (await q.query<T>(sql, params, byteaCodec)).rows;
  return {
    kind: "pglite",
    query: (sql, params) => run(db, sql, params),
    exec: async (sql) => void (await db.exec(sql)),
    transaction: (fn) =>
      db.transaction((tx) => fn({ query: (sql, params) => run(tx, sql, params), exec: async (sql) => void (await tx.exec(sql)) } satisfies Queryable)),
    async close() {
      try {
        await db.close();
      } finally {
        lock?.release();
      }
    },
  };
}
