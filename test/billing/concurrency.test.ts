// N=50 concurrent predicts' reserve+post against a balance that covers exactly M=20 of them.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { rolloutPriceMicros } from "../../src/core/money";
import { forEachStore, type BillingFixture } from "./helpers/billing";

const PRICE = rolloutPriceMicros(1, 49, 500); // 24,500
const N = 50;
const M = 20;

forEachStore("billing/concurrency", (open) => {
  let f: BillingFixture;
  beforeEach(async () => (f = await open()));
  afterEach(async () => f?.close());

  it(`N=${N} concurrent reserve+post on a balance covering exactly M=${M}: ${M} succeed, ${N - M} get 402, 0 left, never negative`, async () => {
    const k = await f.billing.createKey({ name: "race", creditsMicros: M * PRICE });
    const observed: number[] = [];
    const observe = async (): Promise<void> => {
      observed.push((await f.billing.balance(k.customerId)).balanceMicros, (await f.store.balance(k.customerId)).availableMicros);
    };
    const outcomes = await Promise.all(
      Array.from({ length: N }, async (_, i) => {
        const requestId = `race-${i}`;
        try {
          await f.billing.reserve({ customerId: k.customerId, requestId, amountMicros: PRICE });
        } catch (err) {
          assert.ok(err instanceof ServiceError && err.reason === "INSUFFICIENT_CREDITS", String(err));
          assert.equal(err.details.requested_micros, PRICE);
          await observe();
          return "402";
        }
        await observe();
        const posted = await f.billing.post(requestId, PRICE);
        assert.equal(posted.capturedMicros, PRICE);
        await observe();
        return "ok";
      }),
    );
    assert.equal(outcomes.filter((o) => o === "ok").length, M);
    assert.equal(outcomes.filter((o) => o === "402").length, N - M);
    assert.deepEqual(await f.billing.balance(k.customerId), { customerId: k.customerId, balanceMicros: 0, balanceMils: 0, balanceCents: 0, balanceUsd: 0, heldMicros: 0 });
    assert.deepEqual(await f.store.balance(k.customerId), { availableMicros: 0, heldMicros: 0 });
    assert.ok(observed.every((b) => b >= 0), `a balance went negative: ${Math.min(...observed)}`);
    const debits = (await f.billing.transactions(k.customerId, 500)).filter((t) => t.kind === "debit");
    assert.equal(debits.length, M);
    assert.ok(debits.every((t) => t.amountMicros === -PRICE));
    const report = await f.billing.reconcile({ repair: false });
    assert.deepEqual([report.ok, report.drift, report.ledgerProblems], [true, [], []]);
  });
});
