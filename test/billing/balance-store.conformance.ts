// One behavioural contract for every BalanceStore (in-process and Redis run it alike). Time is a
// FakeClock; nothing here waits on the wall clock.
import assert from "node:assert/strict";
import { AssertionError } from "../../src/core/assert";
import { FakeClock } from "../../src/core/clock";
import { StoreNotReadyError, type BalanceStore } from "../../src/billing/store/balance-store";

const ROLLOUT = 24_500;
const TTL = 60_000;

export interface StoreFixture {
  store: BalanceStore;
  clock: FakeClock;
  /** Make the store lose its mirror as a flush or restart would. */
  lose(): Promise<void>;
  close(): Promise<void>;
}

async function build(store: BalanceStore): Promise<void> {
  const token = await store.beginRebuild();
  assert.ok(token);
  assert.equal(await store.finishRebuild(token), true);
}

export function balanceStoreConformance(open: () => Promise<StoreFixture>): void {
  let f: StoreFixture;
  let store: BalanceStore;
  let clock: FakeClock;
  let n = 0;
  const id = (p: string): string => `${p}-${++n}`;
  const funded = async (micros: number): Promise<string> => {
    const c = id("cus");
    await store.credit(c, micros);
    return c;
  };

  beforeEach(async () => {
    f = await open();
    store = f.store;
    clock = f.clock;
    await build(store);
  });
  afterEach(async () => f?.close());

  it("is not ready until built from the ledger, and refuses money calls meanwhile", async () => {
    await f.lose();
    assert.equal(await store.ready(), false);
    await assert.rejects(store.reserve("c", 1, id("r"), TTL), StoreNotReadyError);
    await assert.rejects(store.credit("c", 1), StoreNotReadyError);
    await build(store);
    assert.equal(await store.ready(), true);
  });

  it("reserves atomically: holds when available covers it, refuses otherwise, idempotent per request id", async () => {
    const c = await funded(2 * ROLLOUT);
    assert.deepEqual(await store.reserve("cus-nobody", 1, id("r"), TTL), { status: "insufficient", availableMicros: 0 });
    const r1 = id("r");
    const held = await store.reserve(c, ROLLOUT, r1, TTL);
    assert.deepEqual(held, { status: "held", availableMicros: ROLLOUT, expiresAtMs: clock.wallMs() + TTL });
    const dup = await store.reserve(c, ROLLOUT, r1, TTL);
    assert.equal(dup.status, "duplicate");
    assert.equal(dup.status === "duplicate" && dup.hold.state, "pending");
    assert.deepEqual(await store.balance(c), { availableMicros: ROLLOUT, heldMicros: ROLLOUT });
    assert.equal((await store.reserve(c, ROLLOUT, id("r"), TTL)).status, "held"); // exactly the balance
    assert.deepEqual(await store.reserve(c, 1, id("r"), TTL), { status: "insufficient", availableMicros: 0 });
  });

  it("post captures the actual amount and releases the rest, exactly once", async () => {
    const c = await funded(ROLLOUT);
    const r = id("r");
    await store.reserve(c, ROLLOUT, r, TTL);
    const first = await store.post(r, 20_000);
    assert.equal(first.status, "applied");
    assert.deepEqual(first.hold && [first.hold.state, first.hold.capturedMicros, first.hold.releasedMicros], ["posted", 20_000, 4_500]);
    assert.deepEqual(await store.balance(c), { availableMicros: 4_500, heldMicros: 0 });
    for (const again of [await store.post(r, 24_500), await store.void(r), await store.expire(r)]) {
      assert.equal(again.status, "already");
      assert.equal(again.hold?.state, "posted");
      assert.equal(again.hold?.capturedMicros, 20_000);
    }
    assert.deepEqual(await store.balance(c), { availableMicros: 4_500, heldMicros: 0 });
  });

  it("refuses to capture more than held (a caller bug) and changes nothing", async () => {
    const c = await funded(ROLLOUT);
    const r = id("r");
    await store.reserve(c, ROLLOUT, r, TTL);
    await assert.rejects(store.post(r, ROLLOUT + 1), AssertionError);
    assert.deepEqual(await store.balance(c), { availableMicros: 0, heldMicros: ROLLOUT });
    assert.equal((await store.hold(r))?.state, "pending");
  });

  it("void releases everything once; cancel does the same for holds the ledger never saw", async () => {
    const c = await funded(2 * ROLLOUT);
    const [a, b] = [id("r"), id("r")];
    await store.reserve(c, ROLLOUT, a, TTL);
    await store.reserve(c, ROLLOUT, b, TTL);
    assert.equal((await store.void(a)).status, "applied");
    assert.equal((await store.void(a)).status, "already");
    const cancelled = await store.cancel(b);
    assert.equal(cancelled.hold?.state, "cancelled");
    assert.deepEqual(await store.balance(c), { availableMicros: 2 * ROLLOUT, heldMicros: 0 });
    assert.deepEqual(await store.post("never-reserved", 1), { status: "unknown", hold: null });
    // A cancelled attempt never reached the ledger: the same request id may reserve again.
    assert.equal((await store.reserve(c, ROLLOUT, b, TTL)).status, "held");
    assert.equal((await store.reserve(c, ROLLOUT, a, TTL)).status, "duplicate"); // voided is final
    assert.deepEqual(await store.balance(c), { availableMicros: ROLLOUT, heldMicros: ROLLOUT });
  });

  it("holds expire only after their TTL, are listed oldest first, and are never captured after expiry", async () => {
    const c = await funded(3 * ROLLOUT);
    const [a, b, d] = [id("r"), id("r"), id("r")];
    await store.reserve(c, ROLLOUT, a, TTL);
    clock.advanceMs(10);
    await store.reserve(c, ROLLOUT, b, TTL);
    await store.reserve(c, ROLLOUT, d, 10 * TTL);
    await store.void(b);
    assert.equal((await store.expire(a)).status, "not-expired");
    assert.deepEqual(await store.expiredHolds(clock.wallMs(), 10), []);
    clock.advanceMs(TTL);
    assert.deepEqual((await store.expiredHolds(clock.wallMs(), 10)).map((h) => h.requestId), [a]);
    assert.equal((await store.expire(a)).status, "applied");
    const late = await store.post(a, ROLLOUT);
    assert.equal(late.status, "already");
    assert.equal(late.hold?.state, "expired");
    assert.equal(late.hold?.capturedMicros, 0);
    assert.deepEqual(await store.balance(c), { availableMicros: 2 * ROLLOUT, heldMicros: ROLLOUT });
  });

  it("renews a pending hold's expiry (never earlier), not a settled one", async () => {
    const c = await funded(2 * ROLLOUT);
    const [a, b] = [id("r"), id("r")];
    await store.reserve(c, ROLLOUT, a, TTL);
    await store.reserve(c, ROLLOUT, b, TTL);
    await store.void(b);
    const start = clock.wallMs();
    assert.equal(await store.renew(a, start + 3 * TTL), true);
    assert.equal(await store.renew(a, start + TTL), true); // late beat: the expiry stays
    assert.equal(await store.renew(b, start + 3 * TTL), false);
    assert.equal(await store.renew(id("r"), start + 3 * TTL), false);
    clock.advanceMs(2 * TTL);
    assert.deepEqual(await store.expiredHolds(clock.wallMs(), 10), []);
    assert.equal((await store.expire(a)).status, "not-expired");
    assert.equal((await store.hold(a))?.expiresAtMs, start + 3 * TTL);
    clock.advanceMs(TTL);
    assert.deepEqual((await store.expiredHolds(clock.wallMs(), 10)).map((h) => h.requestId), [a]);
    assert.equal((await store.post(a, ROLLOUT)).status, "applied");
    assert.deepEqual(await store.balance(c), { availableMicros: ROLLOUT, heldMicros: 0 });
  });

  it("mirrored credits apply once per seq and never when a rebuild already included them", async () => {
    const c = id("cus");
    await store.resync([{ customerId: c, balanceMicros: 1_000, seq: 5, openHolds: [] }]);
    assert.deepEqual(await store.credit(c, 500, 5), { applied: false, availableMicros: 1_000 }); // in the snapshot
    assert.deepEqual(await store.credit(c, 500, 6), { applied: true, availableMicros: 1_500 });
    assert.deepEqual(await store.credit(c, 500, 6), { applied: false, availableMicros: 1_500 }); // duplicate
  });

  it("resync overwrites a customer with the ledger's state, dropping holds the ledger does not list", async () => {
    const c = await funded(3 * ROLLOUT);
    const [keep, drop] = [id("r"), id("r")];
    await store.reserve(c, ROLLOUT, keep, TTL);
    await store.reserve(c, ROLLOUT, drop, TTL);
    await store.resync([{ customerId: c, balanceMicros: 2 * ROLLOUT, seq: 9, openHolds: [{ requestId: keep, amountMicros: ROLLOUT, expiresAtMs: clock.wallMs() + TTL }] }]);
    assert.deepEqual(await store.balance(c), { availableMicros: 2 * ROLLOUT, heldMicros: ROLLOUT });
    assert.equal(await store.hold(drop), null);
    assert.equal((await store.hold(keep))?.state, "pending");
    assert.ok((await store.customers()).includes(c));
  });

  it("mirrors a ledger settlement exactly once, whatever the store holds", async () => {
    const c = id("cus");
    await store.resync([{ customerId: c, balanceMicros: 100_000, seq: 10, openHolds: [] }]);
    // Normal: reserved here, recorded by the ledger at seq 11, settled at 12.
    const r = id("r");
    await store.reserve(c, ROLLOUT, r, TTL);
    const m = { customerId: c, heldMicros: ROLLOUT, holdSeq: 11, settleSeq: 12 };
    assert.equal((await store.post(r, 20_000, m)).status, "applied");
    assert.equal((await store.post(r, 20_000, m)).status, "already");
    assert.deepEqual(await store.balance(c), { availableMicros: 80_000, heldMicros: 0 });
    // The store lost the hold (reserved before a rebuild, recorded after it): net effect applied once.
    const lost = id("r");
    const ml = { customerId: c, heldMicros: ROLLOUT, holdSeq: 13, settleSeq: 14 };
    assert.equal((await store.post(lost, 10_000, ml)).status, "applied");
    assert.equal((await store.post(lost, 10_000, ml)).status, "already");
    assert.deepEqual(await store.balance(c), { availableMicros: 70_000, heldMicros: 0 });
    // Cancelled here (ledger write looked failed) but the ledger did record it: same net effect.
    const cancelled = id("r");
    await store.reserve(c, ROLLOUT, cancelled, TTL);
    await store.cancel(cancelled);
    assert.equal((await store.void(cancelled, { customerId: c, heldMicros: ROLLOUT, holdSeq: 15, settleSeq: 16 })).status, "applied");
    assert.deepEqual(await store.balance(c), { availableMicros: 70_000, heldMicros: 0 });
    // Already in the last snapshot: nothing to do.
    await store.resync([{ customerId: c, balanceMicros: 70_000, seq: 20, openHolds: [] }]);
    assert.equal((await store.post(id("r"), 1, { customerId: c, heldMicros: ROLLOUT, holdSeq: 17, settleSeq: 18 })).status, "already");
    assert.deepEqual(await store.balance(c), { availableMicros: 70_000, heldMicros: 0 });
  });

  it("reports a mirror that contradicts the store as inconsistent, changing nothing", async () => {
    const c = id("cus");
    const r = id("r");
    await store.resync([{ customerId: c, balanceMicros: 0, seq: 30, openHolds: [{ requestId: r, amountMicros: ROLLOUT, expiresAtMs: clock.wallMs() + TTL }] }]);
    assert.equal((await store.post(r, 1, { customerId: c, heldMicros: ROLLOUT, holdSeq: 29, settleSeq: 30 })).status, "inconsistent");
    assert.equal((await store.void(id("r"), { customerId: c, heldMicros: ROLLOUT, holdSeq: 28, settleSeq: 31 })).status, "inconsistent");
    assert.deepEqual(await store.balance(c), { availableMicros: 0, heldMicros: ROLLOUT });
  });

  it("allows one rebuild at a time, and a stale token cannot finish one", async () => {
    const token = await store.beginRebuild();
    assert.ok(token);
    assert.equal(await store.beginRebuild(), null);
    assert.equal(await store.finishRebuild("not-the-token"), false);
    assert.equal(await store.finishRebuild(token), true);
    assert.equal(await store.ready(), true);
  });

  it("keeps an outbox of settlements the ledger could not take", async () => {
    const intent = { requestId: id("r"), outcome: "posted" as const, capturedMicros: 500, atMs: clock.wallMs() };
    await store.queueIntent(intent);
    assert.deepEqual(await store.intent(intent.requestId), intent);
    assert.deepEqual(await store.intents(), [intent]);
    await store.dropIntent(intent.requestId);
    assert.deepEqual(await store.intents(), []);
  });

  it("50 concurrent reserve+post on a balance covering exactly 20: 20 succeed, 30 refused, 0 left, never negative", async () => {
    const c = await funded(20 * ROLLOUT);
    const seen: number[] = [];
    const results = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const r = `conc-${n}-${i}`;
        const res = await store.reserve(c, ROLLOUT, r, TTL);
        seen.push(res.availableMicros, (await store.balance(c)).availableMicros);
        if (res.status !== "held") return false;
        await store.post(r, ROLLOUT);
        seen.push((await store.balance(c)).availableMicros);
        return true;
      }),
    );
    assert.equal(results.filter(Boolean).length, 20);
    assert.deepEqual(await store.balance(c), { availableMicros: 0, heldMicros: 0 });
    assert.ok(seen.every((v) => v >= 0), `saw a negative balance: ${Math.min(...seen)}`);
  });
}
