// The embedded ledger's bytea codec (src/billing/ledger/pglite-driver.ts byteaCodec): Buffer's native
// hex in place of PGlite's per-byte JavaScript mapping. Same values as PGlite's own codec, both ways.
import { strict as assert } from "node:assert";
import { PGlite } from "@electric-sql/pglite";
import { byteaCodec } from "../../src/billing/ledger/pglite-codec";
import { openPgliteDriver } from "../../src/billing/ledger/pglite-driver";
import type { SqlDriver } from "../../src/billing/ledger/sql-driver";

describe("billing/pglite-driver: bytea through the native hex codec", function () {
  this.timeout(60_000);
  let driver: SqlDriver;
  const every = Uint8Array.from({ length: 512 }, (_, i) => i % 256);
  const sizes = [0, 1, 255, 4096, 82_000];
  const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) % 256);

  before(async () => {
    driver = await openPgliteDriver({});
    await driver.exec("CREATE TABLE blobs (id int PRIMARY KEY, b bytea)");
  });
  after(() => driver?.close());

  it("round-trips every byte value and sizes from 0 to 82 KB, as Uint8Array (also inside a transaction)", async () => {
    await driver.query("INSERT INTO blobs VALUES ($1, $2)", [0, every]);
    for (const n of sizes) await driver.transaction((tx) => tx.query("INSERT INTO blobs VALUES ($1, $2)", [n + 1, Buffer.from(payload(n))]));
    const [row] = await driver.query<{ b: Uint8Array }>("SELECT b FROM blobs WHERE id = 0");
    assert.equal(Object.getPrototypeOf(row!.b), Uint8Array.prototype);
    assert.deepEqual(row!.b, every);
    for (const n of sizes) {
      const [r] = await driver.transaction((tx) => tx.query<{ b: Uint8Array }>("SELECT b FROM blobs WHERE id = $1", [n + 1]));
      assert.deepEqual(r!.b, payload(n), `${n} bytes`);
    }
  });

  it("agrees with PGlite's own codec: what either writes, the other reads back the same, and Postgres sees the same octets", async () => {
    const db = await PGlite.create();
    try {
      await db.exec("CREATE TABLE blobs (id int PRIMARY KEY, b bytea)");
      const data = payload(3000);
      await db.query("INSERT INTO blobs VALUES (1, $1)", [data]); // PGlite's serializer
      await db.query("INSERT INTO blobs VALUES (2, $1)", [data], byteaCodec); // ours
      const mine = await db.query<{ b: Uint8Array }>("SELECT b FROM blobs ORDER BY id", [], byteaCodec);
      const theirs = await db.query<{ b: Uint8Array }>("SELECT b FROM blobs ORDER BY id");
      for (const rows of [mine.rows, theirs.rows]) for (const r of rows) assert.deepEqual(Uint8Array.from(r.b), data);
      const sums = await db.query<{ m: string }>("SELECT md5(b) AS m FROM blobs ORDER BY id");
      assert.equal(sums.rows[0]!.m, sums.rows[1]!.m);
    } finally {
      await db.close();
    }
  });

  it("refuses a value that is not bytes, as PGlite's own serializer does", async () => {
    await assert.rejects(driver.query("INSERT INTO blobs VALUES (99, $1)", ["not bytes"]), /Invalid input for bytea type/);
  });
});
