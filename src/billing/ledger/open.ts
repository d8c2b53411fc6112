// Chooses the SQL engine: node-postgres when a DATABASE_URL is given, otherwise embedded PGlite
// (on disk under <dataDir>/ledger, or in memory for tests). Both run the same migrations and SQL.
import path from "node:path";
import type { KeyStore, Ledger } from "./ledger";
import { migrate } from "./migrate";
import { migrations } from "./migrations";
import { openPgDriver } from "./pg-driver";
import { pgliteCloner } from "./pglite-driver";
import { openPgliteThreadDriver } from "./pglite-thread";
import { SqlKeyStore } from "./sql-keys";
import { SqlLedger } from "./sql-ledger";
import type { SqlDriver } from "./sql-driver";

export interface LedgerBackend {
  kind: "pg" | "pglite";
  /** The raw SQL seam, for operator tooling and tests (no driver types leak out of this folder). */
  driver: SqlDriver;
  ledger: Ledger;
  keys: KeyStore;
  /** Applies pending schema migrations; returns the versions applied now. */
  migrate(): Promise<number[]>;
  close(): Promise<void>;
}

export type LedgerLocation =
  | { databaseUrl: string; schema?: string; /** tests: DROP SCHEMA … CASCADE on close */ dropSchemaOnClose?: boolean }
  | { dataDir: string } // PGlite files under <dataDir>/ledger
  | { inMemory: true };

export function backendOver(driver: SqlDriver, beforeClose?: () => Promise<void>): LedgerBackend {
  return {
    kind: driver.kind,
    driver,
    ledger: new SqlLedger(driver),
    keys: new SqlKeyStore(driver),
    migrate: () => migrate(driver, migrations),
    async close() {
      try {
        await beforeClose?.();
      } finally {
        await driver.close();
      }
    },
  };
}

export async function openLedger(location: LedgerLocation): Promise<LedgerBackend> {
  if ("databaseUrl" in location) {
    const driver = await openPgDriver({ url: location.databaseUrl, schema: location.schema });
    const schema = location.schema;
    const drop = location.dropSchemaOnClose && schema !== undefined && schema !== "public" ? async () => driver.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) : undefined;
    return backendOver(driver, drop);
  }
  // PGlite in a thread of its own: its CPU (SQL, WASM, protocol codec) stays off the serving thread.
  if ("dataDir" in location) return backendOver(await openPgliteThreadDriver({ dir: path.join(location.dataDir, "ledger") }));
  return backendOver(await openPgliteThreadDriver({}));
}

/** Fresh, already-migrated in-memory ledgers, each cloned from one template booted on first use. */
export function memoryLedgerFactory(): () => Promise<LedgerBackend> {
  const clone = pgliteCloner((driver) => migrate(driver, migrations));
  return async () => backendOver(await clone());
}
