// The JobStore conformance suite on embedded PGlite (always) and real Postgres (DATABASE_URL, in a
// private schema created and dropped per test; an unreachable server fails the suite).
import { openPgliteDriver } from "../../src/billing/ledger/pglite-driver";
import { openPgDriver } from "../../src/billing/ledger/pg-driver";
import { DATABASE_URL, describeWithEnv, uniqueName } from "../billing/helpers/env";
import { storeConformance } from "./store.conformance";

describe("jobs/store: PGlite (embedded, in memory)", function () {
  this.timeout(30_000);
  storeConformance(async () => {
    const sql = await openPgliteDriver({});
    return { sql, close: () => sql.close() };
  });
});

describeWithEnv("DATABASE_URL", DATABASE_URL, "jobs/store: Postgres (DATABASE_URL)", (url) => {
  storeConformance(async () => {
    const schema = uniqueName("jobs");
    const sql = await openPgDriver({ url, schema });
    return {
      sql,
      async close() {
        await sql.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await sql.close();
      },
    };
  });
});
