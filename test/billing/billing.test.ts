// The facade the service layer uses: keys, reserve/post/void, 402 details, credits, views.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { rolloutPriceMicros } from "../../src/core/money";
import { forEachStore, HOLD_TTL_MS, type BillingFixture } from "./helpers/billing";

const FRAME_MICROS = 500;
const ROLLOUT = rolloutPriceMicros(1, 49, FRAME_MICROS);

async function rejectsWith(p: Promise<unknown>, reason: string): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ServiceError, `expected ServiceError ${reason}, got ${String(err)}`);
    assert.equal(err.reason, reason, err.message);
    return err;
  }
  assert.fail(`expected ServiceError ${reason}`);
}

forEachStore("billing/facade", (open) => {
  let f: BillingFixture;
  let n = 0;
  const rid = () => `req-${++n}-${Math.random().toString(36).slice(2, 8)}`;
  beforeEach(async () => (f = await open()));
  afterEach(async () => f?.close());

  it("creates a key that authenticates to its customer with default rate limits, showing the raw key once", async () => {
    const k = await f.billing.createKey({ name: "me", creditsMicros: 5_000_000 });
    assert.match(k.rawKey, /^dre_[a-z2-7]{43}$/);
    assert.match(k.customerId, /^cus_local_[a-z2-7]{16}$/);
    const account = await f.billing.authenticate(k.rawKey);
    assert.deepEqual(account, { customerId: k.customerId, keyId: k.keyId, keyName: "me", stripeCustomerId: null, rateLimit: { ratePerS: 50, burst: 200 } });
    assert.equal((await f.billing.authenticate(`Bearer ${k.rawKey}`)).keyId, k.keyId);
    assert.equal((await f.billing.balance(k.customerId)).balanceMicros, 5_000_000);
    const listed = await f.billing.listKeys();
    assert.ok(listed.some((x) => x.keyId === k.keyId && x.name === "me" && x.revokedAt === null));
    assert.ok(!JSON.stringify(listed).includes(k.rawKey.slice(4)));
  });

  it("rejects missing, malformed and unknown keys (401) and revoked keys (403), revocation at once", async () => {
    await rejectsWith(f.billing.authenticate(undefined), "UNAUTHENTICATED");
    await rejectsWith(f.billing.authenticate("sk_live_nope"), "UNAUTHENTICATED");
    await rejectsWith(f.billing.authenticate(`dre_${"a".repeat(42)}`), "UNAUTHENTICATED");
    await rejectsWith(f.billing.authenticate(`dre_${"a".repeat(43)}`), "UNAUTHENTICATED");
    const k = await f.billing.createKey({ name: "doomed" });
    await f.billing.authenticate(k.rawKey); // cached now
    await f.billing.revokeKey(k.keyId);
    await rejectsWith(f.billing.authenticate(k.rawKey), "PERMISSION_DENIED");
    await rejectsWith(f.billing.revokeKey("key_nope"), "NOT_FOUND");
  });

  it("a revocation by another process takes effect once the auth cache entry expires", async () => {
    const k = await f.billing.createKey({ name: "shared" });
    await f.billing.authenticate(k.rawKey);
    const other = await f.another();
    await other.revokeKey(k.keyId);
    await f.billing.authenticate(k.rawKey); // still cached here
    f.clock.advanceMs(5_001);
    await rejectsWith(f.billing.authenticate(k.rawKey), "PERMISSION_DENIED");
  });

  it("stores per-key rate limits for the limiter", async () => {
    const k = await f.billing.createKey({ name: "fast" });
    await f.billing.authenticate(k.rawKey);
    await f.billing.setRateLimit(k.keyId, { ratePerS: 5, burst: 10 });
    assert.deepEqual((await f.billing.authenticate(k.rawKey)).rateLimit, { ratePerS: 5, burst: 10 });
    await rejectsWith(f.billing.setRateLimit(k.keyId, { ratePerS: 0, burst: 10 }), "INVALID_ARGUMENT");
  });

  it("seed figures: 49 frames cost 24,500 µUSD and debit exactly that; K=8 costs 196,000 µUSD", async () => {
    assert.equal(ROLLOUT, 24_500);
    assert.equal(rolloutPriceMicros(8, 49, FRAME_MICROS), 196_000);
    const k = await f.billing.createKey({ name: "seed", creditsMicros: 1_000_000 });
    const r = rid();
    const held = await f.billing.reserve({ customerId: k.customerId, requestId: r, amountMicros: ROLLOUT });
    assert.equal(held.balanceMicros, 1_000_000 - 24_500);
    const posted = await f.billing.post(r, ROLLOUT);
    assert.deepEqual([posted.outcome, posted.capturedMicros, posted.releasedMicros, posted.recorded, posted.first], ["posted", 24_500, 0, true, true]);
    assert.equal((await f.billing.balance(k.customerId)).balanceMicros, 975_500);
    const batch = rid();
    await f.billing.reserve({ customerId: k.customerId, requestId: batch, amountMicros: rolloutPriceMicros(8, 49, FRAME_MICROS) });
    await f.billing.post(batch, 196_000);
    const b = await f.billing.balance(k.customerId);
    assert.deepEqual(b, { customerId: k.customerId, balanceMicros: 779_500, balanceMils: 7_795, balanceCents: 78, balanceUsd: 0.7795, heldMicros: 0 });
    const txs = await f.billing.transactions(k.customerId, 10);
    assert.deepEqual(
      txs.map((t) => [t.kind, t.amountMicros, t.balanceMicros, t.requestId]),
      [
        ["debit", -196_000, 779_500, batch],
        ["debit", -24_500, 975_500, r],
        ["grant", 1_000_000, 1_000_000, null],
      ],
    );
    assert.match(txs[0]!.id, /^txn_\d+$/);
    assert.equal(txs[0]!.amountCents, -20); // -19.6 cents, half away from zero
  });

  it("402 carries balance (cents half-up) and requested (cents rounded up), plus micros and USD", async () => {
    const k = await f.billing.createKey({ name: "poor", creditsMicros: 15_000 });
    const err = await rejectsWith(f.billing.reserve({ customerId: k.customerId, requestId: rid(), amountMicros: ROLLOUT }), "INSUFFICIENT_CREDITS");
    assert.equal(err.http, 402);
    assert.deepEqual(err.details, { balance_cents: 2, requested_cents: 3, balance_micros: 15_000, requested_micros: 24_500, balance_usd: 0.015, requested_usd: 0.0245 });
    const k2 = await f.billing.createKey({ name: "poorer", creditsMicros: 24_499 });
    const err2 = await rejectsWith(f.billing.reserve({ customerId: k2.customerId, requestId: rid(), amountMicros: ROLLOUT }), "INSUFFICIENT_CREDITS");
    assert.deepEqual([err2.details.balance_cents, err2.details.requested_cents], [2, 3]);
    const k3 = await f.billing.createKey({ name: "broke" });
    const err3 = await rejectsWith(f.billing.reserve({ customerId: k3.customerId, requestId: rid(), amountMicros: 196_000 }), "INSUFFICIENT_CREDITS");
    assert.deepEqual([err3.details.balance_cents, err3.details.requested_cents], [0, 20]);
    assert.equal((await f.billing.balance(k.customerId)).balanceMicros, 15_000); // nothing held
  });

  it("a partial post refunds the frames not produced; void refunds everything; both are idempotent", async () => {
    const k = await f.billing.createKey({ name: "p", creditsMicros: 100_000 });
    const [a, b] = [rid(), rid()];
    await f.billing.reserve({ customerId: k.customerId, requestId: a, amountMicros: ROLLOUT });
    await f.billing.reserve({ customerId: k.customerId, requestId: b, amountMicros: ROLLOUT });
    assert.deepEqual(await f.billing.balance(k.customerId), { customerId: k.customerId, balanceMicros: 51_000, balanceMils: 510, balanceCents: 5, balanceUsd: 0.051, heldMicros: 49_000 });
    const partial = await f.billing.post(a, 13 * FRAME_MICROS);
    assert.deepEqual([partial.capturedMicros, partial.releasedMicros], [6_500, 18_000]);
    const v = await f.billing.void(b);
    assert.deepEqual([v.outcome, v.releasedMicros], ["voided", ROLLOUT]);
    const again = await f.billing.void(a);
    assert.deepEqual([again.outcome, again.capturedMicros, again.first], ["posted", 6_500, false]);
    assert.equal((await f.billing.post(b, ROLLOUT)).outcome, "voided");
    assert.equal((await f.billing.balance(k.customerId)).balanceMicros, 93_500);
    assert.deepEqual((await f.billing.transactions(k.customerId, 2)).map((t) => [t.kind, t.amountMicros]), [["refund", 24_500], ["refund", 18_000]]);
    await rejectsWith(f.billing.post("never-reserved", 1), "NOT_FOUND");
    const report = await f.billing.reconcile();
    assert.deepEqual([report.ok, report.storeReady, report.ledgerProblems, report.drift, report.outboxPending], [true, true, [], [], 0]);
  });

  it("a repeated reserve for a request id holds nothing more; a different charge under it is refused", async () => {
    const k = await f.billing.createKey({ name: "d", creditsMicros: 100_000 });
    const r = rid();
    const first = await f.billing.reserve({ customerId: k.customerId, requestId: r, amountMicros: ROLLOUT });
    const again = await f.billing.reserve({ customerId: k.customerId, requestId: r, amountMicros: ROLLOUT });
    assert.deepEqual([first.duplicate, again.duplicate, again.state], [false, true, "pending"]);
    await rejectsWith(f.billing.reserve({ customerId: k.customerId, requestId: r, amountMicros: 1 }), "INVALID_ARGUMENT");
    assert.equal((await f.billing.balance(k.customerId)).balanceMicros, 100_000 - ROLLOUT);
    await f.billing.post(r, ROLLOUT);
    const late = await f.billing.reserve({ customerId: k.customerId, requestId: r, amountMicros: ROLLOUT });
    assert.deepEqual([late.duplicate, late.state], [true, "posted"]);
    assert.equal((await f.billing.balance(k.customerId)).balanceMicros, 100_000 - ROLLOUT);
  });

  it("grants once per idempotency key and credits a Stripe session once, usable at once", async () => {
    const k = await f.billing.createKey({ name: "t" });
    const g1 = await f.billing.grant(k.customerId, 10_000, "grant-1");
    const g2 = await f.billing.grant(k.customerId, 10_000, "grant-1");
    assert.deepEqual([g1.credited, g2.credited, g2.balanceMicros], [true, false, 10_000]);
    const t1 = await f.billing.creditTopup(k.customerId, 5_000_000, `cs_${k.keyId}`, `evt_a_${k.keyId}`);
    const t2 = await f.billing.creditTopup(k.customerId, 5_000_000, `cs_${k.keyId}`, `evt_b_${k.keyId}`);
    assert.deepEqual([t1.credited, t2.credited, t2.balanceMicros], [true, false, 5_010_000]);
    const r = rid();
    await f.billing.reserve({ customerId: k.customerId, requestId: r, amountMicros: 5_010_000 });
    await rejectsWith(f.billing.reserve({ customerId: k.customerId, requestId: rid(), amountMicros: 1 }), "INSUFFICIENT_CREDITS");
    await rejectsWith(f.billing.grant("cus_unknown", 1, "x"), "NOT_FOUND");
    await rejectsWith(f.billing.grant(k.customerId, 0, "y"), "INVALID_ARGUMENT");
  });

  it("serves a customer's several keys from one balance, and attaches a Stripe customer", async () => {
    const k1 = await f.billing.createKey({ name: "laptop", creditsMicros: ROLLOUT });
    const k2 = await f.billing.createKey({ name: "ci", customerId: k1.customerId });
    assert.equal((await f.billing.authenticate(k2.rawKey)).customerId, k1.customerId);
    await f.billing.attachStripeCustomer(k1.customerId, `cus_Stripe${n}`);
    assert.equal((await f.billing.authenticate(k2.rawKey)).stripeCustomerId, `cus_Stripe${n}`);
    assert.equal(await f.billing.customerByStripeId(`cus_Stripe${n}`), k1.customerId);
    assert.equal((await f.billing.listKeys(k1.customerId)).length, 2);
  });

  it("validates transaction limits and key names", async () => {
    const k = await f.billing.createKey({ name: "v" });
    await rejectsWith(f.billing.transactions(k.customerId, 0), "INVALID_ARGUMENT");
    assert.deepEqual(await f.billing.transactions(k.customerId, 10_000), []);
    await rejectsWith(f.billing.createKey({ name: "" }), "INVALID_ARGUMENT");
    await rejectsWith(f.billing.createKey({ name: "x".repeat(129) }), "INVALID_ARGUMENT");
    await rejectsWith(f.billing.createKey({ name: "ok", customerId: "not-a-customer" }), "INVALID_ARGUMENT");
  });

  it("a request running longer than its hold TTL keeps its hold (renewed) and is billed exactly", async () => {
    const k = await f.billing.createKey({ name: "slow", creditsMicros: 1_000_000 });
    const r = rid();
    await f.billing.reserve({ customerId: k.customerId, requestId: r, amountMicros: ROLLOUT });
    for (let beat = 0; beat < 5; beat++) {
      f.clock.advanceMs(HOLD_TTL_MS / 3); // 5 beats: well past the first expiry
      assert.equal(await f.billing.renewHolds(), 1);
      assert.equal((await f.billing.sweep()).holdsExpired, 0);
    }
    assert.equal((await f.backend.ledger.expiredHolds(f.clock.wallMs() + HOLD_TTL_MS / 2, 1000)).filter((h) => h.requestId === r).length, 0);
    const frames = 48;
    const posted = await f.billing.post(r, frames * FRAME_MICROS);
    assert.deepEqual([posted.outcome, posted.capturedMicros, posted.releasedMicros, posted.first], ["posted", frames * FRAME_MICROS, ROLLOUT - frames * FRAME_MICROS, true]);
    const b = await f.billing.balance(k.customerId);
    assert.deepEqual([b.balanceMicros, b.heldMicros], [1_000_000 - frames * FRAME_MICROS, 0]);
    assert.deepEqual(await f.store.balance(k.customerId), { availableMicros: 1_000_000 - frames * FRAME_MICROS, heldMicros: 0 });
    assert.equal(await f.billing.renewHolds(), 0); // settled: the heartbeat stopped
  });

  it("this process never expires the hold of a request still running here, even after missed heartbeats", async () => {
    const k = await f.billing.createKey({ name: "stalled", creditsMicros: 1_000_000 });
    const r = rid();
    await f.billing.reserve({ customerId: k.customerId, requestId: r, amountMicros: ROLLOUT });
    f.clock.advanceMs(3 * HOLD_TTL_MS);
    assert.equal((await f.billing.sweep()).holdsExpired, 0);
    const posted = await f.billing.post(r, ROLLOUT);
    assert.deepEqual([posted.outcome, posted.capturedMicros], ["posted", ROLLOUT]);
    assert.equal((await f.billing.balance(k.customerId)).balanceMicros, 1_000_000 - ROLLOUT);
  });

  it("a dead server's hold is not renewed and still expires, refunded in full", async () => {
    const k = await f.billing.createKey({ name: "crash", creditsMicros: 1_000_000 });
    const dead = await f.another();
    const r = rid();
    await dead.reserve({ customerId: k.customerId, requestId: r, amountMicros: ROLLOUT });
    await dead.close(); // the process is gone: nothing renews its hold
    f.clock.advanceMs(HOLD_TTL_MS / 3);
    assert.equal(await f.billing.renewHolds(), 0); // a hold is renewed only by the process running it
    f.clock.advanceMs(HOLD_TTL_MS);
    assert.equal((await f.billing.sweep()).holdsExpired, 1);
    assert.equal((await f.billing.post(r, ROLLOUT)).outcome, "expired");
    assert.equal((await f.billing.balance(k.customerId)).balanceMicros, 1_000_000);
  });

  it("reports health per dependency", async () => {
    assert.deepEqual(await f.billing.healthChecks(), { ledger: "ok", balances: "ok" });
  });
});
