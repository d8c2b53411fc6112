// Redis killed (SIGKILL) and restarted, and flushed, while requests run: money calls fail cleanly
// (503) or complete through the ledger, the store is rebuilt from the ledger, and afterwards every
// balance equals the ledger. Uses a private redis-server, never the shared one.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { FakeClock } from "../../src/core/clock";
import type { BillingService } from "../../src/billing/billing";
import { createRedis, serverRunId, type RedisClient } from "../../src/billing/redis/connection";
import { RedisBalanceStore } from "../../src/billing/redis/redis-store";
import type { LedgerBackend } from "../../src/billing/ledger/open";
import { DATABASE_URL, REDIS_URL, uniqueName } from "./helpers/env";
import { freshMemoryLedger, freshPgLedger } from "./helpers/ledgers";
import { HOLD_TTL_MS, service } from "./helpers/billing";
import { prng } from "./helpers/prng";
import { RedisServerProcess, redisServerBinary } from "./helpers/redis-server";

const WORKERS = 8;

describe("billing/fault: Redis restarted and flushed mid-traffic (private redis-server)", function () {
  const binary = redisServerBinary();
  if (!binary) {
    if (REDIS_URL) it("redis-server must be on PATH when REDIS_URL is set", () => assert.fail("redis-server binary not found"));
    else it("SKIPPED: no redis-server binary on PATH (CI has one)");
    return;
  }

  let server: RedisServerProcess;
  let backend: LedgerBackend;
  let redis: RedisClient;
  let billing: BillingService;
  let store: RedisBalanceStore;
  const clock = new FakeClock();
  const prefix = uniqueName("test:billing");

  before(async () => {
    server = await RedisServerProcess.start();
    backend = DATABASE_URL ? await freshPgLedger(DATABASE_URL) : await freshMemoryLedger();
    redis = createRedis(server.url);
    store = await RedisBalanceStore.open(redis, clock, { prefix });
    billing = service(backend, store, clock);
    await billing.start();
  });
  after(async () => {
    await billing?.close();
    await store?.close();
    await backend?.close();
    await server?.stop();
  });

  it("after recovery every balance equals the ledger, and nothing was created or lost", async () => {
    const rnd = prng(99);
    const customers: string[] = [];
    for (let i = 0; i < 4; i++) customers.push((await billing.createKey({ name: `r${i}`, creditsMicros: 40 * 24_500 })).customerId);
    const counts = { ok: 0, refused: 0, unavailable: 0, posted: 0, voided: 0 };
    let done = 0;
    const milestones = new Map<number, () => void>();
    const reach = (n: number) => new Promise<void>((r) => milestones.set(n, r));
    let nextId = 0;

    // Until Redis answers again. The client may still say "ready" for a moment after the server died,
    // so a ping decides; otherwise wait for the client's next (re)connection.
    const reconnected = async (): Promise<void> => {
      for (;;) {
        if (redis.status === "ready" && (await redis.ping().then(() => true, () => false))) return;
        await new Promise((r) => redis.once("ready", r));
      }
    };
    const okAfter = { restart: 0, flush: 0 };
    let blocked = 0;
    let allBlocked: () => void = () => undefined;
    const everyWorkerMetTheOutage = new Promise<void>((r) => (allBlocked = r));
    let phase: "before" | "restart" | "flush" = "before";

    const oneRequest = async (): Promise<void> => {
      const customerId = rnd.pick(customers);
      const requestId = `rr-${nextId++}`;
      const amountMicros = rnd.int(1, 49) * 500;
      try {
        await billing.reserve({ customerId, requestId, amountMicros });
      } catch (err) {
        assert.ok(err instanceof ServiceError, String(err));
        if (err.reason === "UNAVAILABLE") {
          counts.unavailable++;
          // A client backs off (Retry-After); here each worker waits until Redis is reachable again.
          blocked++;
          if (blocked === WORKERS) allBlocked();
          await reconnected();
          blocked--;
        } else if (err.reason === "INSUFFICIENT_CREDITS") counts.refused++;
        else throw err;
        return;
      }
      counts.ok++;
      if (phase !== "before") okAfter[phase]++;
      await new Promise((r) => setImmediate(r)); // let other work (and the faults) interleave
      if (rnd.next() < 0.8) {
        await billing.post(requestId, rnd.int(0, amountMicros / 500) * 500);
        counts.posted++;
      } else {
        await billing.void(requestId);
        counts.voided++;
      }
      if (rnd.next() < 0.05) await billing.creditTopup(customerId, 5_000_000, `cs_${requestId}`, `evt_${requestId}`).catch(() => undefined);
    };

    const worker = async (): Promise<void> => {
      while (done < 600) {
        await oneRequest();
        done++;
        milestones.get(done)?.();
      }
    };

    const killAt = reach(100);
    const flushAt = reach(420);
    const traffic = Promise.all(Array.from({ length: WORKERS }, worker));
    await killAt;
    const runIdBefore = await serverRunId(redis);
    await server.kill();
    await everyWorkerMetTheOutage; // traffic kept coming at the dead server until every worker hit it
    await server.restart();
    phase = "restart";
    await flushAt;
    const admin = createRedis(server.url);
    await admin.connect();
    await admin.flushall();
    admin.disconnect();
    phase = "flush";
    await traffic;
    await reconnected();

    // Recovery: the store rebuilds (restart detected by run id, flush by the generation key), queued
    // store updates drain, holds left by requests cut off mid-flight expire.
    await billing.ensureMirror();
    await billing.sweep();
    clock.advanceMs(HOLD_TTL_MS + 10_000);
    await billing.sweep();

    if (process.env.BILLING_TEST_VERBOSE) console.log(JSON.stringify({ counts, okAfter }));
    assert.notEqual(await serverRunId(redis), runIdBefore);
    assert.ok(counts.unavailable > 0, "some requests must have met the outage");
    assert.ok(okAfter.restart > 0 && okAfter.flush > 0, `requests must run after the restart and after the flush: ${JSON.stringify({ counts, okAfter })}`);
    assert.equal(await redis.get(`${prefix}:runid`), await serverRunId(redis));
    for (const c of customers) {
      const ledger = await backend.ledger.balance(c);
      const mirror = await store.balance(c);
      assert.deepEqual([mirror.availableMicros, mirror.heldMicros], [ledger.balanceMicros, ledger.heldMicros], `customer ${c}`);
      assert.ok(ledger.balanceMicros >= 0);
    }
    const report = await billing.reconcile({ repair: false });
    assert.deepEqual([report.ok, report.drift, report.ledgerProblems, report.outboxPending], [true, [], [], 0]);
    const t = await backend.ledger.totals();
    assert.equal(t.heldMicros, 0);
    assert.equal(t.grantedMicros + t.toppedUpMicros, t.balanceMicros + t.capturedMicros);
  });
});
