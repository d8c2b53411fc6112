// Seeded random interleavings of reserve / post / void / top-up / grant / expiry (batches run
// concurrently), checking after every batch: conservation (granted + topped up = balance + captured
// + held), no negative balance, the store equal to the ledger, and the ledger's own checks.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { forEachStore, HOLD_TTL_MS, service, type BillingFixture } from "./helpers/billing";
import { prng } from "./helpers/prng";

// BILLING_PROPERTY_SEEDS=200 runs seeds 1..200 instead of the fixed few (for a longer soak).
const SEEDS = process.env.BILLING_PROPERTY_SEEDS ? Array.from({ length: Number(process.env.BILLING_PROPERTY_SEEDS) }, (_, i) => i + 1) : [1, 7, 42, 2024];
const BATCHES = 25;
const BATCH_OPS_MAX = 8;

forEachStore("billing/property", (open) => {
  let f: BillingFixture;
  beforeEach(async () => (f = await open()));
  afterEach(async () => f?.close());

  for (const seed of SEEDS) {
    it(`seed ${seed}: conservation, no negative balance, store == ledger after every batch`, async () => {
      const rnd = prng(seed);
      const customers: string[] = [];
      for (let i = 0; i < 3; i++) customers.push((await f.billing.createKey({ name: `p${i}`, creditsMicros: rnd.int(0, 4) * 24_500 })).customerId);
      const open: { requestId: string; heldMicros: number }[] = [];
      // A server (sharing ledger and store) whose requests were cut off: nothing renews its holds, so
      // they are the ones that pass their TTL and expire. f.billing's own running holds never expire.
      const dead = service(f.backend, f.store, f.clock);
      await dead.start();
      let capturedByPosts = 0;
      let nextId = 0;

      const op = async (): Promise<void> => {
        const roll = rnd.next();
        const customerId = rnd.pick(customers);
        if (roll < 0.4) {
          const requestId = `s${seed}-${nextId++}`;
          const amountMicros = rnd.int(1, 98) * 500;
          try {
            await (rnd.next() < 0.5 ? dead : f.billing).reserve({ customerId, requestId, amountMicros, ttlMs: rnd.int(1, 3) * HOLD_TTL_MS });
            open.push({ requestId, heldMicros: amountMicros });
          } catch (err) {
            assert.ok(err instanceof ServiceError && err.reason === "INSUFFICIENT_CREDITS", String(err));
          }
        } else if (roll < 0.65 && open.length > 0) {
          const h = open.splice(rnd.int(0, open.length - 1), 1)[0]!;
          const s = await f.billing.post(h.requestId, rnd.int(0, h.heldMicros / 500) * 500);
          if (s.first && s.outcome === "posted") capturedByPosts += s.capturedMicros;
        } else if (roll < 0.75 && open.length > 0) {
          await f.billing.void(open.splice(rnd.int(0, open.length - 1), 1)[0]!.requestId);
        } else if (roll < 0.85) {
          const session = `cs_${seed}_${rnd.int(0, 30)}`; // repeats: redelivered webhooks
          await f.billing.creditTopup(customerId, 5_000_000, `${session}_${customerId}`, `evt_${nextId++}`);
        } else if (roll < 0.9) {
          const g = rnd.int(1, 20); // repeats: the same grant retried
          await f.billing.grant(customerId, g * 500, `g${seed}-${g}-${customerId}`);
        } else {
          f.clock.advanceMs(rnd.int(0, 2) * HOLD_TTL_MS); // some holds pass their TTL; the sweeper expires them
          await f.billing.sweep();
        }
      };

      for (let batch = 0; batch < BATCHES; batch++) {
        await Promise.all(Array.from({ length: rnd.int(1, BATCH_OPS_MAX) }, op));
        const t = await f.backend.ledger.totals();
        assert.equal(t.grantedMicros + t.toppedUpMicros, t.balanceMicros + t.capturedMicros + t.heldMicros, `conservation broken after batch ${batch}`);
        assert.ok(capturedByPosts <= t.capturedMicros);
        for (const c of customers) {
          const ledger = await f.backend.ledger.balance(c);
          const store = await f.store.balance(c);
          assert.ok(ledger.balanceMicros >= 0 && store.availableMicros >= 0, `negative balance for ${c}`);
          assert.deepEqual([store.availableMicros, store.heldMicros], [ledger.balanceMicros, ledger.heldMicros], `store != ledger for ${c} after batch ${batch}`);
        }
      }
      assert.deepEqual(await f.backend.ledger.verify(), []);
      // Everything still open expires once its servers are gone; the money comes back and the books still balance.
      const next = service(f.backend, f.store, f.clock);
      await next.start();
      await f.billing.close();
      await dead.close();
      f.clock.advanceMs(10 * HOLD_TTL_MS);
      await next.sweep();
      await next.close();
      const end = await f.backend.ledger.totals();
      assert.equal(end.heldMicros, 0);
      assert.equal(end.grantedMicros + end.toppedUpMicros, end.balanceMicros + end.capturedMicros);
      assert.equal(end.capturedMicros, capturedByPosts);
    });
  }
});
