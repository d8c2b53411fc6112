// The embedded ledger's PGlite in a worker thread: the in-process driver's semantics through messages
// (errors with their SQLSTATE, rollback, statements queued behind an open transaction, the data-dir
// lock, bytea), and the serving thread left free while it works.
import { strict as assert } from "node:assert";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPgliteThreadDriver } from "../../src/billing/ledger/pglite-thread";
import { openPgliteDriver } from "../../src/billing/ledger/pglite-driver";
import { sqlState, UNIQUE_VIOLATION, type SqlDriver } from "../../src/billing/ledger/sql-driver";

describe("billing/pglite-thread: PGlite in a worker thread", function () {
  this.timeout(60_000);
  let db: SqlDriver;
  before(async () => {
    db = await openPgliteThreadDriver({});
    await db.exec("CREATE TABLE t (id int PRIMARY KEY, note text, b bytea)");
  });
  after(() => db?.close());

  it("answers queries with rows, and a Postgres error keeps its SQLSTATE and message", async () => {
    await db.query("INSERT INTO t (id, note) VALUES ($1, $2)", [1, "one"]);
    assert.deepEqual(await db.query("SELECT id, note FROM t WHERE id = $1", [1]), [{ id: 1, note: "one" }]);
    const err = await db.query("INSERT INTO t (id, note) VALUES (1, 'again')").then(() => undefined, (e: unknown) => e);
    assert.equal(sqlState(err), UNIQUE_VIOLATION);
    assert.match((err as Error).message, /duplicate key/);
  });

  it("commits a transaction's statements together, and rolls all of them back when the callback throws (its error is the one raised)", async () => {
    const result = await db.transaction(async (tx) => {
      await tx.query("INSERT INTO t (id, note) VALUES (2, 'two')");
      await tx.query("INSERT INTO t (id, note) VALUES (3, 'three')");
      return "done";
    });
    assert.equal(result, "done");
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO t (id, note) VALUES (4, 'four')");
        throw new Error("the caller changed its mind");
      }),
      /the caller changed its mind/,
    );
    const ids = (await db.query<{ id: number }>("SELECT id FROM t ORDER BY id")).map((r) => r.id);
    assert.deepEqual(ids, [1, 2, 3]);
  });

  it("queues a statement sent while a transaction is open until it commits, as in-process PGlite does", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const order: string[] = [];
    const tx = db.transaction(async (q) => {
      await q.query("INSERT INTO t (id, note) VALUES (10, 'in tx')");
      await gate;
      order.push("commit");
    });
    await new Promise((r) => setTimeout(r, 50));
    const outside = db.query<{ n: string | number }>("SELECT count(*) AS n FROM t WHERE id = 10").then((rows) => {
      order.push("outside");
      return Number(rows[0]!.n);
    });
    await new Promise((r) => setTimeout(r, 50));
    release();
    await tx;
    assert.equal(await outside, 1, "the statement saw the committed row");
    assert.deepEqual(order, ["commit", "outside"]);
  });

  it("round-trips bytea of every byte value", async () => {
    const bytes = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256);
    await db.query("INSERT INTO t (id, b) VALUES (20, $1)", [Buffer.from(bytes)]);
    const [row] = await db.query<{ b: Uint8Array }>("SELECT b FROM t WHERE id = 20");
    assert.deepEqual(row!.b, bytes);
  });

  it("holds the data directory's lock while open and releases it on close; the data persists", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pglite-thread-"));
    try {
      const first = await openPgliteThreadDriver({ dir });
      await first.exec("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)");
      await assert.rejects(openPgliteThreadDriver({ dir }), /open in another process/);
      await first.close();
      const second = await openPgliteThreadDriver({ dir });
      assert.deepEqual(await second.query("SELECT v FROM kept"), [{ v: 42 }]);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps the calling thread's event loop free while it works: max loop delay far below the in-process driver's on the same inserts", async () => {
    const payload = Buffer.alloc(200_000, 3);
    // The longest gap between ticks of a 1 ms interval timer while the work runs: how long this
    // thread could not answer anything else.
    const loopDelayMs = async (driver: SqlDriver): Promise<number> => {
      await driver.exec("CREATE TABLE IF NOT EXISTS big (id int, b bytea)");
      let last = performance.now();
      let maxGapMs = 0;
      const ticker = setInterval(() => {
        const now = performance.now();
        maxGapMs = Math.max(maxGapMs, now - last);
        last = now;
      }, 1);
      for (let i = 0; i < 20; i++) await driver.transaction(async (tx) => { for (let j = 0; j < 5; j++) await tx.query("INSERT INTO big VALUES ($1, $2)", [i * 5 + j, payload]); });
      await new Promise((r) => setTimeout(r, 5));
      clearInterval(ticker);
      return Math.max(maxGapMs, performance.now() - last);
    };
    const inProcess = await openPgliteDriver({});
    try {
      const threaded = await loopDelayMs(db);
      const local = await loopDelayMs(inProcess);
      // A ratio, not a time: the same work in one run; the threaded driver leaves only message handling here.
      assert.ok(threaded < local, `max event-loop delay threaded ${threaded.toFixed(1)} ms vs in-process ${local.toFixed(1)} ms`);
    } finally {
      await inProcess.close();
    }
  });
});
