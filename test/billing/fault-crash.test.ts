// A server killed between reserve and post: its hold is released after its TTL by the next server's
// sweeper (fake clock), and a late post from the dead request captures nothing.
import assert from "node:assert/strict";
import { forEachStore, HOLD_TTL_MS, type BillingFixture } from "./helpers/billing";
import { REDIS_URL, describeWithEnv } from "./helpers/env";
import { openBilling } from "./helpers/billing";

const PRICE = 24_500;

forEachStore("billing/fault: server killed between reserve and post", (open) => {
  let f: BillingFixture;
  beforeEach(async () => (f = await open()));
  afterEach(async () => f?.close());

  it("the hold is released after its TTL by the sweeper and never captured", async () => {
    const k = await f.billing.createKey({ name: "crash", creditsMicros: 100_000 });
    await f.billing.reserve({ customerId: k.customerId, requestId: "doomed", amountMicros: PRICE });
    // The server dies here: no post, no void, no close. The next server starts on the same ledger
    // (and, with Redis, the same keys; in-process balances start empty and are rebuilt).
    const next = await f.another();
    assert.deepEqual(await next.balance(k.customerId), { customerId: k.customerId, balanceMicros: 75_500, balanceMils: 755, balanceCents: 8, balanceUsd: 0.0755, heldMicros: PRICE });

    f.clock.advanceMs(HOLD_TTL_MS - 1);
    assert.equal((await next.sweep()).holdsExpired, 0);
    f.clock.advanceMs(1);
    assert.equal((await next.sweep()).holdsExpired, 1);
    assert.equal((await next.sweep()).holdsExpired, 0);
    assert.equal((await next.balance(k.customerId)).balanceMicros, 100_000);

    // The dead request's post finally arrives (a zombie worker): the first outcome stands.
    for (const late of [await f.billing.post("doomed", PRICE), await next.post("doomed", PRICE)]) {
      assert.deepEqual([late.outcome, late.capturedMicros, late.first], ["expired", 0, false]);
    }
    assert.equal((await next.balance(k.customerId)).balanceMicros, 100_000);
    const txs = await next.transactions(k.customerId, 3);
    assert.deepEqual(
      txs.map((t) => [t.kind, t.amountMicros, t.description]),
      [
        ["refund", PRICE, "refund: hold expired"],
        ["debit", -PRICE, "pre-debit (hold)"],
        ["grant", 100_000, `starter credits for key crash`],
      ],
    );
    const report = await next.reconcile({ repair: false });
    assert.deepEqual([report.ok, report.drift], [true, []]);
  });
});

describeWithEnv("REDIS_URL", REDIS_URL, "billing/fault: server killed between the store hold and the ledger write [Redis]", (url) => {
  let f: BillingFixture;
  beforeEach(async () => (f = await openBilling({ kind: "redis", redisUrl: url })));
  afterEach(async () => f?.close());

  it("the store-only hold is released by another server's sweeper once TTL + grace pass", async () => {
    const k = await f.billing.createKey({ name: "orphan", creditsMicros: 100_000 });
    // The dead server got as far as the Redis gate, never to the ledger.
    assert.equal((await f.store.reserve(k.customerId, PRICE, "orphaned", HOLD_TTL_MS)).status, "held");
    const next = await f.another();
    assert.deepEqual(await f.store.balance(k.customerId), { availableMicros: 75_500, heldMicros: PRICE });
    f.clock.advanceMs(HOLD_TTL_MS);
    assert.equal((await next.sweep()).storeOrphansCancelled, 0); // grace: a slow ledger write may still land
    f.clock.advanceMs(5_000);
    assert.equal((await next.sweep()).storeOrphansCancelled, 1);
    assert.deepEqual(await f.store.balance(k.customerId), { availableMicros: 100_000, heldMicros: 0 });
    assert.equal((await next.balance(k.customerId)).balanceMicros, 100_000);
  });
});
