// A master of a private Redis Cluster (3 masters + 3 replicas) is SIGKILLed while holds, posts, voids,
// top-ups and rate-limit takes run for customers on every master; its replica is promoted by the
// cluster itself (cluster-node-timeout 1000 ms). Calls that meet the dead master may fail UNAVAILABLE;
// afterwards every balance in Redis equals the ledger, nothing was created or lost, no hold posted
// twice. Then exactly the dangerous case: writes the old master acknowledged but never replicated
// (its replica stopped and cut off), lost by the failover, are never served and are re-derived from the
// ledger (the source of truth). Needs redis-server and redis-cli on PATH (missing fails).
import assert from "node:assert/strict";
import { BillingService } from "../../src/billing/billing";
import type { LedgerBackend } from "../../src/billing/ledger/open";
import type { BillingLogger } from "../../src/billing/logger";
import { RateLimiterUnavailableError, RedisRateLimiter } from "../../src/billing/ratelimit";
import { RedisClusterBalanceStore } from "../../src/billing/redis/cluster-store";
import { createRedis, rateLimitRedisOptions, type RedisClient } from "../../src/billing/redis/connection";
import { StoreNotReadyError } from "../../src/billing/store/balance-store";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { HOLD_TTL_MS } from "./helpers/billing";
import { DATABASE_URL, uniqueName } from "./helpers/env";
import { freshMemoryLedger, freshPgLedger } from "./helpers/ledgers";
import { prng } from "./helpers/prng";
import { RedisClusterProcess } from "./helpers/redis-cluster";

const WORKERS = 8;
const CUSTOMERS = 24;
const OPS_MAX = 2_000;
const OPS_AFTER_PROMOTION = 200;

describe("billing/fault: a Redis Cluster master killed mid-traffic (private 3+3 cluster)", function () {
  this.timeout(60_000);
  let cluster: RedisClusterProcess;
  let backend: LedgerBackend;
  let redis: RedisClient;
  let limiterRedis: RedisClient;
  let store: RedisClusterBalanceStore;
  let billing: BillingService;
  const clock = new FakeClock();
  const logged: string[] = [];
  const logger: BillingLogger = { info: (_f, m) => void logged.push(m), warn: (_f, m) => void logged.push(m), error: (_f, m) => void logged.push(m) };

  before(async () => {
    cluster = await RedisClusterProcess.start({ nodeTimeoutMs: 1_000 });
    backend = DATABASE_URL ? await freshPgLedger(DATABASE_URL) : await freshMemoryLedger();
    redis = createRedis(cluster.url);
    store = await RedisClusterBalanceStore.open(redis, clock, { prefix: uniqueName("test:billing") });
    billing = new BillingService({ ledger: backend.ledger, keys: backend.keys, store, clock, holdTtlMs: HOLD_TTL_MS, logger, sweepIntervalMs: 0, renewIntervalMs: 0, reconcileIntervalMs: 0, ledgerKind: backend.kind });
    await billing.start();
    limiterRedis = createRedis(cluster.url, rateLimitRedisOptions);
  });
  after(async () => {
    try {
      await billing?.close();
      await store?.close();
      limiterRedis?.disconnect();
      await backend?.close();
    } finally {
      await cluster?.stop(); // whatever failed above, no redis-server outlives the suite
    }
  });

  /** The master serving a key's slot now. */
  async function masterOf(key: string): Promise<{ port: number; slot: number }> {
    const masters = await cluster.masters();
    const admin = await cluster.admin(masters[0]!.port);
    const slot = Number(await admin.call("CLUSTER", "KEYSLOT", key));
    return { port: masters.find((m) => m.slots.some(([a, z]) => slot >= a && slot <= z))!.port, slot };
  }
  const customerKey = (c: string): string => store.keys.customer(store.keys.bucketOf(c), c);

  async function assertStoreEqualsLedger(customers: string[]): Promise<void> {
    for (const c of customers) {
      const ledger = await backend.ledger.balance(c);
      const mirror = await store.balance(c);
      assert.deepEqual([mirror.availableMicros, mirror.heldMicros], [ledger.balanceMicros, ledger.heldMicros], `customer ${c}`);
      assert.ok(ledger.balanceMicros >= 0);
    }
    const report = await billing.reconcile({ repair: false });
    assert.deepEqual([report.ok, report.drift, report.ledgerProblems, report.outboxPending], [true, [], [], 0]);
    const t = await backend.ledger.totals();
    assert.equal(t.grantedMicros + t.toppedUpMicros, t.balanceMicros + t.capturedMicros + t.heldMicros, "money neither appeared nor vanished");
  }

  it("after a master is killed and its replica promoted, every balance equals the ledger; nothing created, lost or posted twice", async () => {
    const rnd = prng(2026);
    const customers: string[] = [];
    for (let i = 0; i < CUSTOMERS; i++) customers.push((await billing.createKey({ name: `cl${i}`, creditsMicros: 60 * 24_500 })).customerId);
    const home = new Map<string, number>();
    for (const c of customers) home.set(c, (await masterOf(customerKey(c))).port);
    assert.equal(new Set(home.values()).size, 3, "customers must live on all three masters");
    const limiter = new RedisRateLimiter({ redis: limiterRedis, keyPrefix: uniqueName("test:rl") + ":" });
    const policy = { ratePerS: 1_000, burst: 1_000 };

    // The victim: the master of the first customer; customers on it are the ones that meet the outage.
    const victim = home.get(customers[0]!)!;
    const { slot: victimSlot } = await masterOf(customerKey(customers[0]!));
    const onVictim = customers.filter((c) => home.get(c) === victim);
    let phase: "before" | "down" | "promoted" = "before";
    const counts = { ok: 0, refused: 0, unavailable: 0, posted: 0, voided: 0, topups: 0, rlAllowed: 0, rlUnavailable: 0, okOnVictimAfter: 0 };
    let capturedFirst = 0;
    let slowestReserveMs = 0;
    const firstPosts = new Map<string, number>();
    let done = 0;
    let afterPromotion = 0;
    let nextId = 0;

    const oneRequest = async (): Promise<void> => {
      const customerId = rnd.pick(customers);
      const requestId = `fo-${nextId++}`;
      const amountMicros = rnd.int(1, 49) * 500;
      try {
        if ((await limiter.take(`cust:${customerId}`, policy)).allowed) counts.rlAllowed++;
      } catch (err) {
        assert.ok(err instanceof RateLimiterUnavailableError, String(err));
        counts.rlUnavailable++;
      }
      const startedMs = Date.now();
      try {
        await billing.reserve({ customerId, requestId, amountMicros });
      } catch (err) {
        slowestReserveMs = Math.max(slowestReserveMs, Date.now() - startedMs);
        assert.ok(err instanceof ServiceError, String(err));
        if (err.reason === "UNAVAILABLE") {
          counts.unavailable++;
          await new Promise((r) => setTimeout(r, 20)); // a client backs off (Retry-After)
        } else if (err.reason === "INSUFFICIENT_CREDITS") counts.refused++;
        else throw err;
        return;
      }
      slowestReserveMs = Math.max(slowestReserveMs, Date.now() - startedMs);
      counts.ok++;
      if (phase === "promoted" && home.get(customerId) === victim) counts.okOnVictimAfter++;
      await new Promise((r) => setImmediate(r));
      if (rnd.next() < 0.75) {
        const s = await billing.post(requestId, rnd.int(0, amountMicros / 500) * 500);
        assert.equal(s.recorded, true);
        if (s.first) {
          assert.ok(!firstPosts.has(requestId), `hold ${requestId} posted twice`);
          firstPosts.set(requestId, s.capturedMicros);
          capturedFirst += s.capturedMicros;
        }
        // A retry of the same post is answered with the first outcome, never a second capture.
        const again = await billing.post(requestId, amountMicros);
        assert.deepEqual([again.first, again.capturedMicros], [false, s.capturedMicros]);
        counts.posted++;
      } else {
        await billing.void(requestId);
        counts.voided++;
      }
      if (rnd.next() < 0.04) {
        await billing.creditTopup(customerId, 2_000_000, `cs_${requestId}`, `evt_${requestId}`);
        counts.topups++;
      }
    };

    let killed!: () => void;
    const killNow = new Promise<void>((r) => (killed = r));
    const worker = async (): Promise<void> => {
      while (done < OPS_MAX && afterPromotion < OPS_AFTER_PROMOTION) {
        await oneRequest();
        done++;
        if (phase === "promoted") afterPromotion++;
        if (done === 150) killed();
      }
    };
    const traffic = Promise.all(Array.from({ length: WORKERS }, worker));
    await killNow;
    await cluster.kill(victim);
    phase = "down";
    const promoted = await cluster.waitPromoted(victim, victimSlot);
    phase = "promoted";
    await traffic;

    // Recovery as the service runs it: the rebuild the failover triggered, queued store updates, and
    // holds of requests cut off mid-flight expiring.
    await billing.ensureMirror();
    await billing.sweep();
    clock.advanceMs(HOLD_TTL_MS + 10_000);
    await billing.sweep();

    if (process.env.BILLING_TEST_VERBOSE) console.log(JSON.stringify({ victim, promoted, onVictim: onVictim.length, counts, done, afterPromotion, slowestReserveMs }));
    assert.notEqual(promoted, victim);
    // Answered or refused, never hung: the client's resends are bounded (8 × 200 ms), then 503.
    assert.ok(slowestReserveMs < 5_000, `a reserve took ${slowestReserveMs} ms`);
    assert.ok(afterPromotion >= OPS_AFTER_PROMOTION, `traffic must run on after the promotion: ${JSON.stringify({ done, afterPromotion })}`);
    assert.ok(counts.okOnVictimAfter > 0, `customers of the failed master must be served again after the promotion: ${JSON.stringify(counts)}`);
    assert.ok(logged.includes("balance store rebuilt from the ledger") && logged.filter((m) => m === "balance store rebuilt from the ledger").length >= 2, "the failover must have been detected and the store rebuilt");
    assert.equal(await store.ready(), true);
    await assertStoreEqualsLedger(customers);
    const t = await backend.ledger.totals();
    assert.equal(t.heldMicros, 0);
    assert.equal(t.capturedMicros, capturedFirst, "the ledger captured exactly what the first posts reported");
    // Rate limits work again on every master, the promoted one included.
    for (const c of onVictim) assert.equal(typeof (await limiter.take(`cust:${c}`, policy)).allowed, "boolean");
  });

  it("writes the old master acknowledged but never replicated are not served after the failover, and come back from the ledger", async () => {
    // A master that still has its replica (the first test's victim is gone).
    let master: number | undefined;
    let replica: number | undefined;
    for (const m of await cluster.masters()) {
      replica = await cluster.replicaOf(m.port).catch(() => undefined);
      if (replica !== undefined) {
        master = m.port;
        break;
      }
    }
    assert.ok(master !== undefined && replica !== undefined, "a master with a linked replica");
    let customerId = "";
    for (let i = 0; i < 64 && customerId === ""; i++) {
      const c = (await billing.createKey({ name: `lost${i}`, creditsMicros: 100_000 })).customerId;
      if ((await masterOf(customerKey(c))).port === master) customerId = c;
    }
    assert.ok(customerId, "a customer on that master");
    await billing.ensureMirror();
    const before = await store.balance(customerId);
    assert.deepEqual(before, { availableMicros: 100_000, heldMicros: 0 });

    // Cut the replica off: everything up to here is replicated (WAIT), nothing after it will be.
    const admin = await cluster.admin(master);
    assert.equal(await admin.call("WAIT", "1", "2000"), 1);
    cluster.pause(replica);
    await admin.call("CLIENT", "KILL", "TYPE", "replica");
    const posted = `lost-${nextSuffix()}`;
    const pending = `lost-${nextSuffix()}`;
    await billing.reserve({ customerId, requestId: posted, amountMicros: 30_000 });
    await billing.post(posted, 20_000);
    await billing.reserve({ customerId, requestId: pending, amountMicros: 10_000 });
    await billing.creditTopup(customerId, 5_000, `cs_${posted}`, `evt_${posted}`);
    // Acknowledged: the master has all of it.
    assert.deepEqual(await store.balance(customerId), { availableMicros: 100_000 - 20_000 - 10_000 + 5_000, heldMicros: 10_000 });

    const { slot } = await masterOf(customerKey(customerId));
    await cluster.kill(master);
    cluster.resume(replica);
    assert.equal(await cluster.waitPromoted(master, slot), replica);

    // The promoted replica really lost those writes...
    const promoted = await cluster.admin(replica);
    const [avail, held] = await promoted.hmget(customerKey(customerId), "avail", "held");
    assert.deepEqual([avail, held ?? "0"], ["100000", "0"]);
    // ...and the store refuses to answer from them: the bucket's marker is from the old history.
    await assert.rejects(store.balance(customerId), StoreNotReadyError);
    await billing.ensureMirror();
    assert.deepEqual(await store.balance(customerId), { availableMicros: 75_000, heldMicros: 10_000 });
    // The hold the failover lost is settled normally (the rebuild restored it from the ledger).
    const s = await billing.post(pending, 10_000);
    assert.deepEqual([s.first, s.capturedMicros], [true, 10_000]);
    await assertStoreEqualsLedger([customerId]);
    assert.deepEqual(await store.balance(customerId), { availableMicros: 75_000, heldMicros: 0 });
  });
});

let suffix = 0;
function nextSuffix(): string {
  return `${process.pid}-${++suffix}`;
}
