// One row's run on resume, against a real JobStore (PGlite in memory) and a scripted ledger and flow:
// a row whose charge is already posted is never run again, a dead instance's pending hold is voided
// first (and its posted outcome wins), and a spent request id gives the row a fresh one.
import assert from "node:assert/strict";
import { openPgliteDriver } from "../../src/billing/ledger/pglite-driver";
import type { CatalogEntry } from "../../src/config/catalog";
import { systemClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { Priority } from "../../src/gen/dream/v1/dream";
import { migrateJobs } from "../../src/jobs/migrations";
import type { JobsSql } from "../../src/jobs/sql";
import { JobStore } from "../../src/jobs/store";
import type { Claim } from "../../src/jobs/types";
import { silentLogger } from "../../src/observability/logger";
import { runRow, type ChargeState, type RowLedger } from "../../src/service/jobs/row-run";
import type { PredictFlow, PredictInput } from "../../src/service/predict-flow";
import { ModelRegistry } from "../../src/service/registry";

const entry = { slug: "tiny", actionDim: 4, batchLanesMax: 8, pricePerFrameMicros: 500, resolution: [48, 64], fps: 10 } as unknown as CatalogEntry;

describe("jobs/row-run: resume and idempotency", function () {
  this.timeout(30_000);
  let sql: JobsSql & { close(): Promise<void> };
  let store: JobStore;
  let claim: Claim;
  let admitted: PredictInput[];
  let admitError: ServiceError;
  let voided: string[];

  const ledger = (state: ChargeState, afterVoid: ChargeState = "voided"): RowLedger => ({
    status: async () => ({ state, capturedMicros: state === "posted" ? 4500 : 0 }),
    voidStale: async (_c, requestId) => {
      voided.push(requestId);
      return { state: afterVoid as "posted" | "voided", capturedMicros: afterVoid === "posted" ? 4500 : 0 };
    },
  });
  const run = (l: RowLedger) => {
    const flow = {
      admit: async (_ctx: unknown, _account: unknown, input: PredictInput) => {
        admitted.push(input);
        throw admitError;
      },
    } as unknown as PredictFlow;
    const models = new ModelRegistry([{ entry, status: "live", statusReason: "", engine: {} as never }]);
    return runRow({ store, flow, codecs: {} as never, models, ledger: l, clock: systemClock, logger: silentLogger, jobsRoot: "/nonexistent", instanceId: "me" }, claim, new AbortController().signal);
  };
  const stored = async () => (await store.rows(claim.job))[0]!;

  beforeEach(async () => {
    sql = await openPgliteDriver({});
    await migrateJobs(sql);
    store = new JobStore(sql);
    await store.createJob({ customerId: "cus_a", jobId: "j", keyId: "key_1", model: "tiny", params: JSON.stringify({ numSteps: 2, guidance: 1, seed: "0" }), output: JSON.stringify({ encoding: "MP4", jpegQuality: 90 }), source: "upload", sinkDir: "out", budgetMicros: 0, priority: 2, atMs: 1, rows: [{ name: "r0", priceMicros: 4500, start: { encoding: 2, height: 0, width: 0, bytes: new Uint8Array([1]) }, actions: { shape: [2, 4], bytes: new Uint8Array(32) } }], contentDigest: "d" });
    [claim] = await store.claim("me", Date.now(), 60_000, 1);
    admitted = [];
    voided = [];
    admitError = new ServiceError("INSUFFICIENT_CREDITS", "no money");
  });
  afterEach(async () => sql.close());

  it("a row whose charge was posted (its instance died before recording it) is marked done, not run", async () => {
    assert.equal(await run(ledger("posted")), "done");
    assert.deepEqual(admitted, []);
    const r = await stored();
    assert.deepEqual([r.state, r.frames, r.costMicros], ["done", 9, 4500]);
  });

  it("a dead instance's pending hold is voided first; if it had posted after all, the row is done", async () => {
    assert.equal(await run(ledger("pending", "posted")), "done");
    assert.deepEqual(voided, ["job-j-row-0"]);
    assert.deepEqual(admitted, []);
  });

  it("a voided hold spends the id: the row runs again under the next generation, at BATCH priority", async () => {
    assert.equal(await run(ledger("pending", "voided")), "out-of-credits");
    assert.equal(admitted[0]!.requestId, "job-j-row-0-r1");
    assert.equal(admitted[0]!.priority, Priority.BATCH);
    assert.equal(admitted[0]!.candidates.length, 1);
    const r = await stored();
    assert.deepEqual([r.state, r.requestGen, r.attempts], ["pending", 1, 0], "out of credits is not the row's failure");
  });

  it("a fresh row runs under its deterministic id; UNAVAILABLE gives it back without counting an attempt", async () => {
    admitError = new ServiceError("UNAVAILABLE", "model warming up");
    assert.equal(await run(ledger("none")), "unavailable");
    assert.equal(admitted[0]!.requestId, "job-j-row-0");
    assert.equal((await stored()).attempts, 0);
  });

  it("retries a retryable failure with a fresh id, and fails the row after limits.jobRowAttemptsMax tries", async () => {
    admitError = new ServiceError("ENGINE_FAILURE", "runner crashed");
    assert.equal(await run(ledger("none")), "retry");
    let r = await stored();
    assert.deepEqual([r.state, r.attempts, r.requestGen], ["pending", 1, 1]);
    [claim] = await store.claim("me", Date.now(), 60_000, 1);
    assert.equal(await run(ledger("none")), "retry");
    [claim] = await store.claim("me", Date.now(), 60_000, 1);
    assert.equal(await run(ledger("none")), "failed");
    r = await stored();
    assert.equal(r.state, "failed");
    assert.match(r.error, /ENGINE_FAILURE/);
  });

  it("a non-retryable failure fails the row at once", async () => {
    admitError = new ServiceError("INVALID_ARGUMENT", "bad");
    assert.equal(await run(ledger("none")), "failed");
  });
});
