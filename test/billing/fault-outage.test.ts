// The ledger (Postgres) or the balance store briefly unreachable, simulated by wrappers that fail
// every call while "down" (and, once, by losing the reply of a call that did commit).
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { BillingService } from "../../src/billing/billing";
import { LedgerUnavailableError, type Ledger } from "../../src/billing/ledger/ledger";
import { StoreUnavailableError } from "../../src/billing/store/balance-store";
import { forEachStore, HOLD_TTL_MS, openStore, type BillingFixture } from "./helpers/billing";
import { REDIS_URL, describeWithEnv } from "./helpers/env";
import { openBilling } from "./helpers/billing";

const PRICE = 24_500;

interface Switch {
  down: boolean;
  /** Method names whose next call commits but then reports failure (the reply was lost). */
  loseReply: Set<string>;
}

function flaky<T extends object>(target: T, make: (m: string) => Error): { proxy: T; sw: Switch } {
  const sw: Switch = { down: false, loseReply: new Set() };
  const proxy = new Proxy(target, {
    get(t, prop, receiver) {
      const v = Reflect.get(t, prop, receiver) as unknown;
      if (typeof v !== "function") return v;
      return async (...args: unknown[]) => {
        if (sw.down) throw make(`simulated outage (${String(prop)})`);
        const result = await (v as (...a: unknown[]) => Promise<unknown>).apply(t, args);
        if (sw.loseReply.delete(String(prop))) throw make(`reply lost after ${String(prop)} committed`);
        return result;
      };
    },
  });
  return { proxy, sw };
}

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    assert.ok(err instanceof ServiceError, String(err));
    return err.reason;
  }
}

forEachStore("billing/fault: ledger or store briefly unreachable", (open) => {
  let f: BillingFixture;
  let billing: BillingService;
  let ledgerSw: Switch;
  let storeSw: Switch;
  let ledger: Ledger;
  let customerId: string;

  beforeEach(async () => {
    f = await open();
    const l = flaky(f.backend.ledger, (m) => new LedgerUnavailableError(m));
    const s = flaky(f.store, (m) => new StoreUnavailableError(m));
    ledger = f.backend.ledger;
    ledgerSw = l.sw;
    storeSw = s.sw;
    billing = new BillingService({ ledger: l.proxy, keys: f.backend.keys, store: s.proxy, clock: f.clock, holdTtlMs: HOLD_TTL_MS, sweepIntervalMs: 0, reconcileIntervalMs: 0 });
    await billing.start();
    customerId = (await billing.createKey({ name: "outage", creditsMicros: 100_000 })).customerId;
  });
  afterEach(async () => {
    await billing?.close(); // its LISTEN connection (Postgres ledger) goes with it
    await f?.close();
  });

  const assertInStep = async (): Promise<void> => {
    const l = await ledger.balance(customerId);
    const s = await f.store.balance(customerId);
    assert.deepEqual([s.availableMicros, s.heldMicros], [l.balanceMicros, l.heldMicros]);
    const t = await ledger.totals();
    assert.equal(t.grantedMicros + t.toppedUpMicros, t.balanceMicros + t.capturedMicros + t.heldMicros);
  };

  it("reserve while the ledger is down: 503 before any work, nothing held anywhere", async () => {
    ledgerSw.down = true;
    assert.equal(await reason(billing.reserve({ customerId, requestId: "r1", amountMicros: PRICE })), "UNAVAILABLE");
    ledgerSw.down = false;
    assert.deepEqual(await f.store.balance(customerId), { availableMicros: 100_000, heldMicros: 0 });
    assert.equal(await ledger.holdStatus("r1"), null);
    const retry = await billing.reserve({ customerId, requestId: "r1", amountMicros: PRICE }); // the client's retry works
    assert.deepEqual([retry.duplicate, retry.state, retry.balanceMicros], [false, "pending", 100_000 - PRICE]);
    await assertInStep();
  });

  it("reserveGated while the ledger is down: the gate holds, the record fails UNAVAILABLE, and nothing stays held anywhere", async () => {
    ledgerSw.down = true;
    const { recorded } = await billing.reserveGated({ customerId, requestId: "g1", amountMicros: PRICE });
    assert.equal(await reason(recorded), "UNAVAILABLE");
    ledgerSw.down = false;
    assert.deepEqual(await f.store.balance(customerId), { availableMicros: 100_000, heldMicros: 0 });
    assert.equal(await ledger.holdStatus("g1"), null);
    await assertInStep();
  });

  it("reserveGated: a short balance is refused by the gate itself (402 before any record is attempted), and a good one is recorded", async () => {
    assert.equal(await reason(billing.reserveGated({ customerId, requestId: "g2", amountMicros: 100_001 })), "INSUFFICIENT_CREDITS");
    assert.equal(await ledger.holdStatus("g2"), null);
    const { recorded } = await billing.reserveGated({ customerId, requestId: "g3", amountMicros: PRICE });
    const r = await recorded;
    assert.deepEqual([r.duplicate, r.state, r.balanceMicros], [false, "pending", 100_000 - PRICE]);
    assert.equal((await ledger.holdStatus("g3"))?.hold.amountMicros, PRICE);
    await assertInStep();
  });

  it("post while the ledger is down: the request completes, the outcome waits and is recorded when it is back", async () => {
    await billing.reserve({ customerId, requestId: "r2", amountMicros: PRICE });
    ledgerSw.down = true;
    const s = await billing.post("r2", 20_000);
    assert.deepEqual([s.outcome, s.recorded], ["pending", false]);
    ledgerSw.down = false;
    assert.deepEqual(await f.store.balance(customerId), { availableMicros: 75_500, heldMicros: PRICE }); // still held: no money moved
    const sweep = await billing.sweep();
    assert.equal(sweep.intentsRecorded, 1);
    const st = await ledger.holdStatus("r2");
    assert.deepEqual([st?.settlement?.outcome, st?.settlement?.capturedMicros], ["posted", 20_000]);
    assert.equal((await billing.balance(customerId)).balanceMicros, 80_000);
    await assertInStep();
  });

  it("a ledger write that committed but reported failure: the client got 503, the hold is refunded at expiry", async () => {
    ledgerSw.loseReply.add("hold");
    assert.equal(await reason(billing.reserve({ customerId, requestId: "r3", amountMicros: PRICE })), "UNAVAILABLE");
    assert.equal((await ledger.holdStatus("r3"))?.settlement, null); // it did commit
    f.clock.advanceMs(HOLD_TTL_MS);
    assert.equal((await billing.sweep()).holdsExpired, 1);
    assert.equal((await billing.balance(customerId)).balanceMicros, 100_000);
    await assertInStep();
  });

  it("a post whose ledger reply was lost is recorded once, not twice", async () => {
    await billing.reserve({ customerId, requestId: "r4", amountMicros: PRICE });
    ledgerSw.loseReply.add("settle");
    assert.equal((await billing.post("r4", PRICE)).recorded, false);
    await billing.sweep();
    assert.equal((await billing.balance(customerId)).balanceMicros, 75_500);
    await assertInStep();
  });

  it("credits while the store is down land in the ledger at once and in the store when it is back", async () => {
    storeSw.down = true;
    const g = await billing.grant(customerId, 1_000, "while-store-down");
    assert.equal(g.credited, true);
    assert.equal(await reason(billing.reserve({ customerId, requestId: "r5", amountMicros: PRICE })), "UNAVAILABLE");
    const r6 = await billing.reserve({ customerId, requestId: "r6", amountMicros: PRICE }).catch(() => undefined);
    assert.equal(r6, undefined);
    storeSw.down = false;
    await billing.sweep();
    assert.deepEqual(await f.store.balance(customerId), { availableMicros: 101_000, heldMicros: 0 });
    await assertInStep();
  });

  it("settlements while the store is down are mirrored when it is back", async () => {
    await billing.reserve({ customerId, requestId: "r7", amountMicros: PRICE });
    storeSw.down = true;
    assert.equal((await billing.post("r7", 500)).recorded, true);
    storeSw.down = false;
    await billing.sweep();
    await assertInStep();
  });
});

describeWithEnv("REDIS_URL", REDIS_URL, "billing/fault: ledger down at post, then the server dies [Redis]", (url) => {
  let f: BillingFixture;
  beforeEach(async () => (f = await openBilling({ kind: "redis", redisUrl: url })));
  afterEach(async () => f?.close());

  it("another server records the outcome from the shared outbox (captured), not an expiry", async () => {
    const l = flaky(f.backend.ledger, (m) => new LedgerUnavailableError(m));
    const dying = new BillingService({ ledger: l.proxy, keys: f.backend.keys, store: f.store, clock: f.clock, holdTtlMs: HOLD_TTL_MS, sweepIntervalMs: 0, reconcileIntervalMs: 0 });
    await dying.start();
    const customerId = (await dying.createKey({ name: "outbox", creditsMicros: 100_000 })).customerId;
    await dying.reserve({ customerId, requestId: "ob1", amountMicros: PRICE });
    l.sw.down = true;
    assert.equal((await dying.post("ob1", 20_000)).recorded, false);
    // The server dies with the ledger still down. Later the ledger is back and the hold has expired.
    const { store } = await openStore({ kind: "redis", redisUrl: url }, f.clock, f.prefix!);
    const next = new BillingService({ ledger: f.backend.ledger, keys: f.backend.keys, store, clock: f.clock, holdTtlMs: HOLD_TTL_MS, sweepIntervalMs: 0, reconcileIntervalMs: 0 });
    await next.start();
    f.clock.advanceMs(HOLD_TTL_MS + 10_000);
    const sweep = await next.sweep();
    assert.deepEqual([sweep.intentsRecorded, sweep.holdsExpired], [1, 0]);
    const st = await f.backend.ledger.holdStatus("ob1");
    assert.deepEqual([st?.settlement?.outcome, st?.settlement?.capturedMicros], ["posted", 20_000]);
    assert.deepEqual(await store.balance(customerId), { availableMicros: 80_000, heldMicros: 0 });
    await dying.close();
    await next.close();
    await store.close();
  });
});
