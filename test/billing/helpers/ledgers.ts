// Fresh ledgers for tests: PGlite clones of one migrated template, or a unique schema on real Postgres.
import { memoryLedgerFactory, openLedger, type LedgerBackend } from "../../../src/billing/ledger/open";
import { uniqueName } from "./env";

let memory: (() => Promise<LedgerBackend>) | undefined;

export function freshMemoryLedger(): Promise<LedgerBackend> {
  memory ??= memoryLedgerFactory();
  return memory();
}

export async function freshPgLedger(url: string): Promise<LedgerBackend> {
  const backend = await openLedger({ databaseUrl: url, schema: uniqueName("billing_test"), dropSchemaOnClose: true });
  await backend.migrate();
  return backend;
}
