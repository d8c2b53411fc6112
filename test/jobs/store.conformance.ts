// One JobStore suite for both SQL engines (PGlite in memory, real Postgres in a private schema).
import assert from "node:assert/strict";
import { jobContentDigest } from "../../src/jobs/digest";
import { migrateJobs, jobsMigrations, jobsSchemaVersion } from "../../src/jobs/migrations";
import type { JobsSql } from "../../src/jobs/sql";
import { JobStore } from "../../src/jobs/store";
import type { NewJob } from "../../src/jobs/types";
import { failingOnRowStatement } from "./failing-sql";

export interface StoreFixture {
  sql: JobsSql;
  close(): Promise<void>;
}

function newJob(jobId: string, rows: number, budgetMicros = 0, customerId = "cus_a"): NewJob {
  const job: Omit<NewJob, "contentDigest"> = {
    customerId,
    jobId,
    keyId: "key_1",
    model: "dream-reference-tiny",
    params: "{}",
    output: "{}",
    source: "upload",
    sinkDir: `out/${jobId}`,
    budgetMicros,
    priority: 2,
    atMs: 1000,
    rows: Array.from({ length: rows }, (_, i) => ({
      name: `r${i}`,
      priceMicros: 4500,
      start: { encoding: 2, height: 48, width: 64, bytes: new Uint8Array([1, 2, 3, i & 255]) },
      actions: { shape: [8, 4], bytes: new Uint8Array(128).fill(i & 255) },
    })),
  };
  return { ...job, contentDigest: jobContentDigest(job) };
}

export function storeConformance(open: () => Promise<StoreFixture>): void {
  let fx: StoreFixture;
  let store: JobStore;
  beforeEach(async () => {
    fx = await open();
    await migrateJobs(fx.sql);
    store = new JobStore(fx.sql);
  });
  afterEach(async () => fx.close());

  it("migrates once: a second run applies nothing", async () => {
    assert.deepEqual(await migrateJobs(fx.sql), []);
    assert.equal(await jobsSchemaVersion(fx.sql), jobsMigrations.length);
  });

  it("creates a job idempotently per customer id and keeps uploaded bytes", async () => {
    const first = await store.createJob(newJob("j1", 3));
    assert.equal(first.created, true);
    assert.equal(first.job.state, "pending");
    assert.equal(first.job.rowsTotal, 3);
    const again = await store.createJob(newJob("j1", 5));
    assert.deepEqual([again.created, again.sameContent], [false, false]);
    assert.equal(again.job.rowsTotal, 3);
    assert.deepEqual([(await store.createJob(newJob("j1", 3))).sameContent, (await store.counts({ customerId: "cus_a", jobId: "j1" })).written], [true, 3]);
    // Another customer's job of the same id is its own.
    assert.equal((await store.createJob(newJob("j1", 2, 0, "cus_b"))).created, true);
    assert.equal(await store.getJob({ customerId: "cus_c", jobId: "j1" }), undefined);
    const [claim] = await store.claim("i1", 2000, 10_000, 1);
    assert.deepEqual([...claim!.row.start!.bytes], [1, 2, 3, 0]);
    assert.deepEqual(claim!.row.actions!.shape, [8, 4]);
    assert.equal(claim!.row.actions!.bytes.byteLength, 128);
  });

  it("counts rows per state", async () => {
    await store.createJob(newJob("j1", 5));
    const key = { customerId: "cus_a", jobId: "j1" };
    const claims = await store.claim("i1", 2000, 10_000, 3);
    assert.equal(claims.length, 3);
    assert.equal((await store.getJob(key))!.state, "running");
    assert.equal((await store.getJob(key))!.firstStartedAtMs, 2000);
    await store.finishRow(claims[0]!.row, "i1", { state: "done", frames: 9, costMicros: 4500, error: "", atMs: 2500 });
    await store.finishRow(claims[1]!.row, "i1", { state: "failed", frames: 0, costMicros: 0, error: "boom", atMs: 2600 });
    assert.deepEqual(await store.counts(key), { pending: 2, running: 1, done: 1, failed: 1, written: 5, frames: 9, costMicros: 4500, lastFinishedAtMs: 2600 });
  });

  it("never hands one row to two concurrent claimers", async () => {
    await store.createJob(newJob("j1", 40));
    await store.createJob(newJob("j2", 40));
    const seen = new Set<string>();
    let total = 0;
    // A claimer that meets a job locked by another skips it (SKIP LOCKED): keep going until all are out.
    const claimers = ["a", "b", "c", "d"].map(async (who) => {
      const mine: string[] = [];
      for (let round = 0; round < 500 && total < 80; round++) {
        const got = await store.claim(who, 2000, 60_000, 3);
        total += got.length;
        for (const c of got) mine.push(`${c.row.jobId}/${c.row.rowIndex}`);
      }
      return mine;
    });
    const all = (await Promise.all(claimers)).flat();
    for (const k of all) {
      assert.ok(!seen.has(k), `row ${k} claimed twice`);
      seen.add(k);
    }
    assert.equal(seen.size, 80);
  });

  it("claims a row again once its lease expired, and the old holder can no longer finish it", async () => {
    await store.createJob(newJob("j1", 1));
    const [first] = await store.claim("dead", 2000, 1000, 1);
    assert.ok(first);
    assert.deepEqual(await store.claim("live", 2500, 1000, 1), [], "a live lease is not reclaimed");
    const [again] = await store.claim("live", 3001, 1000, 1);
    assert.equal(again!.row.rowIndex, 0);
    assert.equal(again!.row.claimedBy, "live");
    assert.equal(await store.finishRow(first!.row, "dead", { state: "done", frames: 9, costMicros: 4500, error: "", atMs: 3100 }), false);
    assert.deepEqual(await store.renewLeases("dead", [first!.row], 9000), [first!.row]);
    assert.deepEqual(await store.renewLeases("live", [again!.row], 9000), []);
    assert.equal(await store.finishRow(again!.row, "live", { state: "done", frames: 9, costMicros: 4500, error: "", atMs: 3200 }), true);
  });

  it("releases a row for a retry with a fresh request generation and counts the attempt", async () => {
    await store.createJob(newJob("j1", 1));
    const [c] = await store.claim("i1", 2000, 1000, 1);
    assert.equal(await store.releaseRow(c!.row, "i1", { failedAttempt: true, spentRequestId: true, error: "queue full" }), true);
    const [again] = await store.claim("i1", 2100, 1000, 1);
    assert.equal(again!.row.attempts, 1);
    assert.equal(again!.row.requestGen, 1);
    assert.equal(await store.bumpRequestGen(again!.row, "i1"), 2);
  });

  it("starts rows only while they fit the budget, then stops the job at it", async () => {
    await store.createJob(newJob("j1", 5, 10_000)); // two rows of 4500 fit, a third does not
    const key = { customerId: "cus_a", jobId: "j1" };
    const claims = await store.claim("i1", 2000, 60_000, 5);
    assert.equal(claims.length, 2);
    assert.deepEqual(await store.claim("i1", 2001, 60_000, 5), [], "in-flight holds count against the budget");
    assert.equal((await store.getJob(key))!.state, "running", "rows in flight may still come in under their holds");
    await store.finishRow(claims[0]!.row, "i1", { state: "done", frames: 9, costMicros: 4500, error: "", atMs: 2100 });
    await store.finishRow(claims[1]!.row, "i1", { state: "done", frames: 9, costMicros: 4500, error: "", atMs: 2100 });
    assert.deepEqual(await store.claim("i1", 2200, 60_000, 5), []);
    const job = (await store.getJob(key))!;
    assert.equal(job.state, "budget_exhausted");
    assert.match(job.error, /budget/);
    assert.equal((await store.counts(key)).pending, 3);
  });

  it("ends a job once every row ended: succeeded, or failed when one failed", async () => {
    await store.createJob(newJob("j1", 2));
    await store.createJob(newJob("j2", 1));
    const claims = await store.claim("i1", 2000, 60_000, 3);
    assert.equal(claims.length, 3);
    for (const c of claims) {
      const failed = c.row.jobId === "j2";
      await store.finishRow(c.row, "i1", { state: failed ? "failed" : "done", frames: failed ? 0 : 9, costMicros: failed ? 0 : 4500, error: failed ? "x" : "", atMs: 3000 });
    }
    assert.equal(await store.finishJobIfDone({ customerId: "cus_a", jobId: "j1" }, 3000), "succeeded");
    assert.equal(await store.finishJobIfDone({ customerId: "cus_a", jobId: "j1" }, 3000), undefined, "only once");
    // The claim loop closes a job whose last runner died before closing it.
    await store.claim("i1", 4000, 60_000, 1);
    assert.equal((await store.getJob({ customerId: "cus_a", jobId: "j2" }))!.state, "failed");
  });

  it("a job whose creation stopped part-way cannot end, and the same create again writes the rest", async () => {
    // Rows go in short statements, not one transaction (the embedded ledger is not held for a whole
    // upload): fail the third row statement, as a crash between statements would leave it.
    const job = newJob("jp", 40);
    await assert.rejects(new JobStore(failingOnRowStatement(fx.sql, 3)).createJob(job), /connection lost/);
    const key = { customerId: "cus_a", jobId: "jp" };
    assert.equal((await store.counts(key)).pending, 16, "two statements of 8 rows landed");
    // Every written row runs and ends; the job must not end with 24 rows never written.
    const claims = await store.claim("i1", 2000, 60_000, 64);
    assert.equal(claims.length, 16);
    for (const c of claims) await store.finishRow(c.row, "i1", { state: "done", frames: 9, costMicros: 4500, error: "", atMs: 3000 });
    assert.equal(await store.finishJobIfDone(key, 3000), undefined);
    assert.deepEqual(await store.claim("i1", 4000, 60_000, 64), []);
    assert.equal((await store.getJob(key))!.state, "running", "the claim loop does not close it either");
    const other = await store.createJob(newJob("jp", 40, 9000)); // another budget: another job under the same id
    assert.deepEqual([other.created, other.sameContent, (await store.counts(key)).written], [false, false, 16], "a different create writes nothing");
    const again = await store.createJob(job);
    assert.deepEqual([again.created, again.sameContent], [false, true]);
    assert.equal((await store.counts(key)).pending, 24, "the missing rows were written; the finished ones untouched");
    assert.equal((await store.counts(key)).done, 16);
    const rest = await store.claim("i1", 5000, 60_000, 64);
    assert.deepEqual(rest.map((c) => c.row.rowIndex), Array.from({ length: 24 }, (_, i) => 16 + i));
    for (const c of rest) await store.finishRow(c.row, "i1", { state: "done", frames: 9, costMicros: 4500, error: "", atMs: 6000 });
    assert.equal(await store.finishJobIfDone(key, 6000), "succeeded");
  });

  it("shares one claim between runnable jobs before filling up from the oldest", async () => {
    await store.createJob({ ...newJob("big", 10), atMs: 1 });
    await store.createJob({ ...newJob("small", 10), atMs: 2 });
    const first = await store.claim("i1", 2000, 60_000, 4);
    assert.deepEqual(first.map((c) => c.job.jobId).sort(), ["big", "big", "small", "small"]);
    await store.createJob({ ...newJob("one", 1), atMs: 3 });
    const next = await store.claim("i1", 2000, 60_000, 6);
    assert.deepEqual(next.map((c) => c.job.jobId).sort(), ["big", "big", "big", "one", "small", "small"]);
  });

  it("does not claim rows of a cancelled job and lists a customer's jobs newest first", async () => {
    await store.createJob({ ...newJob("old", 1), atMs: 1 });
    await store.createJob({ ...newJob("new", 1), atMs: 2 });
    assert.equal(await store.setJobState({ customerId: "cus_a", jobId: "old" }, "cancelled", "by the customer", 5, ["pending", "running"]), true);
    const claims = await store.claim("i1", 2000, 60_000, 5);
    assert.deepEqual(claims.map((c) => c.job.jobId), ["new"]);
    assert.deepEqual((await store.listJobs("cus_a", 10)).map((j) => j.jobId), ["new", "old"]);
    assert.deepEqual((await store.listJobs("cus_a", 1)).map((j) => j.jobId), ["new"]);
    assert.deepEqual(await store.listJobs("cus_b", 10), []);
  });
}
