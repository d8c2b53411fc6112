// Several servers starting together on one fresh Postgres schema: CREATE SCHEMA IF NOT EXISTS races
// inside Postgres (the losers get unique_violation or duplicate_schema); every driver must still open.
import assert from "node:assert/strict";
import { Client } from "pg";
import { openPgDriver } from "../../src/billing/ledger/pg-driver";
import { DATABASE_URL, describeWithEnv, uniqueName } from "./helpers/env";

describeWithEnv("DATABASE_URL", DATABASE_URL, "ledger/pg-driver: servers opening one fresh schema at once", (url) => {
  it("every one of 8 concurrent opens succeeds, 3 times over", async function () {
    this.timeout(60_000);
    for (let trial = 0; trial < 3; trial++) {
      const schema = uniqueName(`race${trial}`);
      try {
        const drivers = await Promise.all(Array.from({ length: 8 }, () => openPgDriver({ url, schema, poolSizeMax: 1 })));
        for (const d of drivers) assert.deepEqual(await d.query<{ one: number }>("SELECT 1 AS one"), [{ one: 1 }]);
        await Promise.all(drivers.map((d) => d.close()));
      } finally {
        // (a failed open closes its own pool)
        const pg = new Client({ connectionString: url });
        await pg.connect();
        await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await pg.end();
      }
    }
  });
});
