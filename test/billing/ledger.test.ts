// The Ledger conformance suite against embedded PGlite (always) and real Postgres (DATABASE_URL).
import assert from "node:assert/strict";
import { LedgerUnavailableError } from "../../src/billing/ledger/ledger";
import { openLedger } from "../../src/billing/ledger/open";
import { DATABASE_URL, describeWithEnv } from "./helpers/env";
import { freshMemoryLedger, freshPgLedger } from "./helpers/ledgers";
import { ledgerConformance } from "./ledger.conformance";

describe("billing/ledger: PGlite (embedded)", function () {
  ledgerConformance(freshMemoryLedger);
});

// What the server opens by default: PGlite in a worker thread (src/billing/ledger/pglite-thread.ts).
describe("billing/ledger: PGlite in its own thread (the server's embedded ledger)", function () {
  this.timeout(60_000);
  ledgerConformance(async () => {
    const backend = await openLedger({ inMemory: true });
    await backend.migrate();
    return backend;
  });
});

describeWithEnv("DATABASE_URL", DATABASE_URL, "billing/ledger: Postgres (DATABASE_URL)", (url) => {
  ledgerConformance(() => freshPgLedger(url));
});

describe("billing/ledger: Postgres unreachable", function () {
  it("is a LedgerUnavailableError (nothing written, retry later), not a generic failure", async () => {
    await assert.rejects(openLedger({ databaseUrl: "postgres://postgres@127.0.0.1:1/test" }), LedgerUnavailableError);
  });
});
