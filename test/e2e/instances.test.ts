// Many engine instances on one Postgres and one Redis (issue 15, item 3), end to end: two real server
// processes (node --import tsx src/main.ts, env config, the tiny model) on one private schema and one
// Redis key prefix show that
//   1. concurrent predicts from both on one shared balance never overspend: credits for exactly N
//      rollouts, 3N predicts at once over both (gRPC and REST) → exactly N served; the rest are 402
//      INSUFFICIENT_CREDITS without a hold (so before any engine work); balance exactly 0; every
//      instance's reconcile and the operator CLI's find the ledger consistent and the store level;
//   2. one key's rate limit holds across instances (its bucket is in Redis, on Redis's clock);
//   3. a hold left by a SIGKILLed instance (its request renewed past the TTL while it lived) is expired
//      by the other instance's sweeper after DREAM_HOLD_TTL_MS, refunding it once, exactly;
//   4. the background loops are safe on every instance at once: two more billing services of this
//      process sweep and reconcile beside both servers' own sweepers (four at once) over holds of a
//      "dead" server and shared outbox entries — each hold settles once (posted from its outbox entry or
//      expired), one refund each, the outbox drains, and concurrent repairs of a drifted store agree;
//   5. readiness and draining as a load balancer needs: not ready (healthz 503, grpc.health.v1
//      NOT_SERVING) until every model is warm; not ready at once on SIGTERM while the request in flight
//      runs on and completes; new predicts UNAVAILABLE; exit 0 after;
//   6. checks 1 and 2 again with both instances on a private Redis Cluster (REDIS_URL=redis+cluster://).
// Needs DATABASE_URL and REDIS_URL (an unreachable one fails); the cluster block needs redis-server.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { scopedRequestId, type BillingService } from "../../src/billing";
import { createRedis } from "../../src/billing/redis/connection";
import { openRedisBalanceStore } from "../../src/billing/redis/open-store";
import type { BalanceStore } from "../../src/billing/store/balance-store";
import { systemClock } from "../../src/core/clock";
import { DATABASE_URL, REDIS_URL, describeWithEnv } from "../billing/helpers/env";
import { RedisClusterProcess } from "../billing/helpers/redis-cluster";
import { sleep } from "./harness";
import {
  adminKey,
  cliReconcile,
  FULL,
  ledgerCustomer,
  makeInstances,
  openSharedBackend,
  predictGrpc,
  predictRest,
  reconcileEverywhere,
  removeInstances,
  rolloutMicros,
  Serving,
  TINY,
  waitFor,
  type Health,
  type Instance,
  type PredictOutcome,
  type SharedBackend,
} from "./instances-harness";

const HOLD_TTL_MS = 3_000;
const SWEEP_EVERY_MS = 1_000; // the billing service's default sweep period
const GRPC_UNAVAILABLE = 14;

interface Pair {
  backend: SharedBackend;
  a: Instance;
  b: Instance;
}

/** Both instances of a pair, started together on a fresh shared backend. */
function usePair(open: () => Promise<SharedBackend>, env: NodeJS.ProcessEnv = {}): () => Pair {
  let pair: Pair | undefined;
  let instances: Instance[] = [];
  before(async function () {
    this.timeout(240_000);
    const backend = await open();
    instances = await makeInstances(backend, ["A", "B"], { DREAM_HOLD_TTL_MS: String(HOLD_TTL_MS), ...env });
    pair = { backend, a: instances[0]!, b: instances[1]! };
    for (const i of instances) i.spawn();
    await Promise.all(instances.map((i) => i.waitReady()));
  });
  after(async function () {
    this.timeout(60_000);
    await removeInstances(instances);
    await pair?.backend.cleanup();
  });
  afterEach(function () {
    if (this.currentTest?.state !== "failed") return;
    for (const i of instances) process.stderr.write(`--- ${i.name} (pid ${i.child?.pid}) log tail ---\n${i.logTail()}\n`);
  });
  return () => {
    assert.ok(pair, "the instances did not start");
    return pair;
  };
}

async function expectReconciled(instances: Instance[], backend: SharedBackend, why: string): Promise<void> {
  // The store follows the ledger a moment after a settlement (settle-behind): level within a few seconds.
  const reports = await waitFor(`every instance's reconcile to find the store level with the ledger (${why})`, 10_000, async () => {
    const r = await reconcileEverywhere(instances);
    return r.every((x) => x.drift.length === 0) ? r : undefined;
  }, 200);
  for (const r of reports) {
    assert.deepEqual(r.ledgerProblems, [], `${why}: ledger self-check`);
    assert.equal(r.ok, true, `${why}: ${JSON.stringify(r)}`);
    assert.equal(r.outboxPending, 0, `${why}: outbox`);
  }
}

/** Checks 1 and 2: run on standalone Redis and again on a Redis Cluster. */
function sharedMoneyChecks(pair: () => Pair, label: string): void {
  it(`1 (${label}): credits for N rollouts, 3N concurrent predicts over both instances → exactly N served, the rest 402 before any hold, balance exactly 0, ledger consistent`, async function () {
    this.timeout(90_000);
    const { a, b, backend } = pair();
    const N = 4;
    const T = 8;
    const price = rolloutMicros(1, T);
    const key = await adminKey(a, N * price);
    // A grant through A reaches B's process too (NOTIFY, seq-guarded): B must not credit the store again.
    const calls = Array.from({ length: 3 * N }, (_, i) => {
      const instance = i % 2 === 0 ? a : b;
      return (i % 4 < 2 ? predictGrpc : predictRest)(instance, key.rawKey, { k: 1, t: T, numSteps: 1 });
    });
    const outcomes: PredictOutcome[] = await Promise.all(calls);
    const served = outcomes.filter((o) => o.ok);
    const refused = outcomes.filter((o) => !o.ok);
    assert.equal(served.length, N, `exactly N served: ${JSON.stringify(outcomes)}`);
    for (const o of served) assert.deepEqual([o.frames, o.costMicros], [T + 1, price]);
    for (const o of refused) {
      assert.equal(o.reason, "INSUFFICIENT_CREDITS", JSON.stringify(o));
      if (o.transport === "rest") assert.equal(o.code, 402);
    }
    assert.ok(new Set(outcomes.map((o) => o.instance)).size === 2, "both instances took calls");

    const ledger = await waitFor("the served requests' posts (behind their responses) to land", 10_000, async () => {
      const l = await ledgerCustomer(backend, key.customerId);
      return l.heldMicros === 0 && l.entries.filter((e) => e.kind === "debit").length === N ? l : undefined;
    });
    assert.equal(ledger.balanceMicros, 0, "balance exactly 0");
    assert.deepEqual(
      ledger.entries.map((e) => [e.kind, e.amountMicros]),
      [["grant", N * price], ...Array.from({ length: N }, () => ["debit", -price])],
      "one grant, N debits, no refund: the refused requests never held anything",
    );
    const holds = await backend.query<{ n: unknown }>("SELECT count(*) AS n FROM billing_holds WHERE customer_id = $1", [key.customerId]);
    assert.equal(Number(holds[0]!.n), N, "a hold is what lets a request reach the engine: N holds, N engine runs");
    const posted = await backend.query<{ outcome: string; captured_micros: unknown }>(
      "SELECT s.outcome, s.captured_micros FROM billing_settlements s JOIN billing_holds h USING (request_id) WHERE h.customer_id = $1",
      [key.customerId],
    );
    assert.deepEqual(posted.map((s) => [s.outcome, Number(s.captured_micros)]), Array.from({ length: N }, () => ["posted", price]));

    await expectReconciled([a, b], backend, "after the burst");
    const cli = await cliReconcile(backend);
    assert.equal(cli.code, 0, `dream-engine ledger reconcile: ${JSON.stringify(cli.report)}`);
    assert.deepEqual([cli.report.ok, cli.report.ledgerProblems, cli.report.drift], [true, [], []]);
  });

  it(`2 (${label}): one key's rate limit (1/s, burst 6, set through the admin socket) holds over both instances as if one server`, async function () {
    this.timeout(30_000);
    const { a, b } = pair();
    const BURST = 6;
    const key = await adminKey(a, 0, { ratePerS: 1, burst: BURST });
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: 4 * BURST }, async (_, i) => {
        const instance = i % 2 === 0 ? a : b;
        const r = await instance.rest("/v1/billing/balance", key.rawKey);
        return { instance: instance.name, status: r.status, reason: r.body?.error?.reason as string | undefined };
      }),
    );
    const elapsedS = (Date.now() - started) / 1000;
    const passed = answers.filter((x) => x.status === 200).length;
    for (const x of answers.filter((y) => y.status !== 200)) assert.deepEqual([x.status, x.reason], [429, "RATE_LIMITED"]);
    // One bucket: the burst, plus what 1/s refills while the calls run. A bucket per instance would pass 2 × burst.
    assert.ok(passed >= BURST, `the burst passes: ${passed}`);
    assert.ok(passed <= BURST + Math.floor(elapsedS) + 1, `${passed} passed in ${elapsedS.toFixed(2)} s: more than one bucket allows`);
    assert.ok(passed < 2 * BURST, `${passed} passed: as many as two separate buckets would`);
    for (const name of [a.name, b.name]) assert.ok(answers.some((x) => x.instance === name && x.status === 429), `${name} refused some: ${JSON.stringify(answers)}`);
  });
}

describeWithEnv("DATABASE_URL", DATABASE_URL, "e2e: many engine instances on one Postgres and one Redis (child servers)", (databaseUrl) => {
  describeWithEnv("REDIS_URL", REDIS_URL, "with one standalone Redis", (redisUrl) => {
    describe("two instances, one schema, one key prefix", function () {
      const pair = usePair(() => openSharedBackend("standalone", databaseUrl, redisUrl));
      sharedMoneyChecks(pair, "standalone Redis");

      it("4: background loops on every instance at once: each hold of a dead server settles once (outbox entry posted, the rest expired), one refund each; concurrent repairs agree", async function () {
        this.timeout(60_000);
        const { a, b, backend } = pair();
        const HOLDS = 16;
        const AMOUNT = 10_000;
        const CAPTURED = 4_000;
        const CREDITS = 1_000_000;
        const services: BillingService[] = [];
        let store: BalanceStore | undefined;
        try {
          // A third "server" reserves, then goes away with its holds open (close() forgets its running requests).
          const dead = await backend.billing();
          const key = await dead.createKey({ name: "inst-e2e-background", creditsMicros: CREDITS });
          const ids = Array.from({ length: HOLDS }, (_, i) => scopedRequestId(key.customerId, `bg-${i}-${randomUUID()}`));
          for (const requestId of ids) await dead.reserve({ customerId: key.customerId, requestId, amountMicros: AMOUNT, ttlMs: 1_500 });
          await dead.close();
          // Half of them finished, but their outcome reached only the outbox (shared, in Redis).
          store = await openRedisBalanceStore(createRedis(backend.redisUrl), systemClock, { prefix: backend.prefix });
          const posted = ids.slice(0, HOLDS / 2);
          for (const requestId of posted) await store.queueIntent({ requestId, outcome: "posted", capturedMicros: CAPTURED, atMs: Date.now() });

          // Two more sweepers in this process, racing each other and both servers' own (every second).
          services.push(await backend.billing(), await backend.billing());
          const settledCount = async () => Number((await backend.query<{ n: unknown }>("SELECT count(*) AS n FROM billing_settlements WHERE request_id = ANY($1::text[])", [ids]))[0]!.n);
          let rounds = 0;
          await waitFor("every hold to be settled", 20_000, async () => {
            const reports = await Promise.all(services.map((s) => s.sweep()));
            rounds++;
            for (const r of reports) assert.equal(r.appliesPending, 0);
            return (await settledCount()) === HOLDS ? true : undefined;
          }, 0);
          assert.ok(rounds > 1, "the sweepers raced over the window");

          const settlements = await backend.query<{ request_id: string; outcome: string; captured_micros: unknown }>("SELECT request_id, outcome, captured_micros FROM billing_settlements WHERE request_id = ANY($1::text[])", [ids]);
          const byId = new Map(settlements.map((s) => [s.request_id, s]));
          assert.equal(settlements.length, HOLDS, "one settlement per hold");
          for (const id of ids) {
            const s = byId.get(id)!;
            assert.deepEqual([s.outcome, Number(s.captured_micros)], posted.includes(id) ? ["posted", CAPTURED] : ["expired", 0], id);
          }
          const refunds = await backend.query<{ request_id: string; n: unknown; micros: unknown }>(
            "SELECT request_id, count(*) AS n, sum(amount_micros) AS micros FROM billing_entries WHERE kind = 'refund' AND request_id = ANY($1::text[]) GROUP BY request_id",
            [ids],
          );
          assert.equal(refunds.length, HOLDS);
          for (const r of refunds) assert.deepEqual([Number(r.n), Number(r.micros)], [1, posted.includes(r.request_id) ? AMOUNT - CAPTURED : AMOUNT], r.request_id);
          const ledger = await ledgerCustomer(backend, key.customerId);
          assert.deepEqual([ledger.balanceMicros, ledger.heldMicros], [CREDITS - (HOLDS / 2) * CAPTURED, 0], "charged exactly the outbox's captures");
          const left = (await store.intents()).filter((i) => ids.includes(i.requestId));
          assert.deepEqual(left, [], "the outbox drained");
          await expectReconciled([a, b], backend, "after the sweeps");
          const storeView = await store.balance(key.customerId);
          assert.deepEqual([storeView.availableMicros, storeView.heldMicros], [ledger.balanceMicros, 0]);

          // Drift, then every instance (both servers, both services here) repairs at once: the store ends
          // level with the ledger and the ledger is untouched (a repair is an overwrite from it).
          const seq = (await backend.query<{ seq: unknown }>("SELECT seq FROM billing_customers WHERE customer_id = $1", [key.customerId]))[0]!.seq;
          await store.resync([{ customerId: key.customerId, balanceMicros: 123, seq: Number(seq), openHolds: [] }]);
          const repairs = await Promise.all([...services.map((s) => s.reconcile({ repair: true })), ...(await reconcileEverywhere([a, b], true))]);
          for (const r of repairs) assert.deepEqual(r.ledgerProblems, []);
          assert.ok(repairs.some((r) => r.repaired.includes(key.customerId)), "someone repaired the drift");
          assert.deepEqual((await store.balance(key.customerId)).availableMicros, ledger.balanceMicros);
          assert.deepEqual(await ledgerCustomer(backend, key.customerId), ledger, "the ledger is untouched by repairs");
          await expectReconciled([a, b], backend, "after concurrent repairs");
        } finally {
          await Promise.all(services.map((s) => s.close()));
          await store?.close();
        }
      });

      it(`3: a hold left by a SIGKILLed instance (renewed past its ${HOLD_TTL_MS} ms TTL while it lived) is expired by the other's sweeper after the TTL; the balance is restored exactly`, async function () {
        this.timeout(90_000);
        const { a, b, backend } = pair();
        // The longest request there is (~16 s alone on two cores here); killed 3.5 s in, so its length costs nothing.
        const shape = { k: 32, t: 240, numSteps: 64 };
        const price = rolloutMicros(shape.k, shape.t);
        const CREDITS = 2 * price;
        const key = await adminKey(b, CREDITS);
        const requestId = randomUUID();
        let finished = false;
        const call = predictGrpc(a, key.rawKey, { ...shape, requestId }).finally(() => (finished = true));
        const heldAt = await waitFor("A's hold", 20_000, async () => ((await ledgerCustomer(backend, key.customerId)).heldMicros === price ? Date.now() : undefined), 20);
        // Past the TTL while A lives: its renewals keep the hold, and B's sweeper leaves it alone.
        await sleep(heldAt + HOLD_TTL_MS + 500 - Date.now());
        assert.equal(finished, false, "the request was still running on A (make it longer if this host is faster)");
        const scoped = scopedRequestId(key.customerId, requestId);
        const expiries = async () => {
          const [h] = await backend.query<{ first: unknown; now: unknown }>("SELECT h.expires_at_ms AS first, o.expires_at_ms AS now FROM billing_holds h JOIN billing_open_holds o USING (request_id) WHERE h.request_id = $1", [scoped]);
          assert.ok(h, "the hold is still open while A lives, past its first expiry");
          return { firstMs: Number(h.first), renewedMs: Number(h.now) };
        };
        const beforeKill = await expiries();
        assert.ok(beforeKill.firstMs < Date.now() && beforeKill.renewedMs > beforeKill.firstMs, `A renewed the hold: ${JSON.stringify(beforeKill)}`);
        await a.kill();
        const killedAt = Date.now();
        const outcome = await call;
        assert.equal(outcome.ok, false, "the client lost its call with A");

        const releasedAt = await waitFor("B's sweeper to release the hold", HOLD_TTL_MS + 4 * SWEEP_EVERY_MS + 5_000, async () => ((await ledgerCustomer(backend, key.customerId)).heldMicros === 0 ? Date.now() : undefined), 50);
        const s = await backend.query<{ outcome: string; captured_micros: unknown; released_micros: unknown; created_at_ms: unknown }>("SELECT outcome, captured_micros, released_micros, created_at_ms FROM billing_settlements WHERE request_id = $1", [scoped]);
        assert.deepEqual(s.map((x) => [x.outcome, Number(x.captured_micros), Number(x.released_micros)]), [["expired", 0, price]]);
        // Not before the TTL since A's last renewal (that renewal is at least the one read before the kill);
        // not much after it either: B sweeps every second.
        const expiredAtMs = Number(s[0]!.created_at_ms);
        assert.ok(expiredAtMs >= beforeKill.renewedMs, `expired at ${expiredAtMs}, before the renewed expiry ${beforeKill.renewedMs}`);
        assert.ok(releasedAt - killedAt <= HOLD_TTL_MS + 2 * SWEEP_EVERY_MS + 2_000, `released ${releasedAt - killedAt} ms after the kill`);
        const ledger = await ledgerCustomer(backend, key.customerId);
        assert.deepEqual(ledger.entries.map((e) => [e.kind, e.amountMicros]), [["grant", CREDITS], ["debit", -price], ["refund", price]], "refunded once");
        assert.equal(ledger.balanceMicros, CREDITS);
        const viaB = await b.rest<{ balance_micros: string | number; held_micros?: string | number }>("/v1/billing/balance", key.rawKey);
        assert.deepEqual([Number(viaB.body.balance_micros), Number(viaB.body.held_micros ?? 0)], [CREDITS, 0]);
        await expectReconciled([b], backend, "after the expiry");
      });

      describe("5: readiness and draining (a third instance, with the 480p model too so that warming takes a while)", function () {
        let c: Instance | undefined;
        after(async () => {
          if (c) await removeInstances([c]);
        });

        it("is not ready (healthz 503, grpc.health.v1 NOT_SERVING) until every model is warm; on SIGTERM not ready at once, the request in flight completes, new predicts are UNAVAILABLE, then it exits 0", async function () {
          this.timeout(180_000);
          const { b, backend } = pair();
          [c] = await makeInstances(backend, ["C"], { DREAM_MODELS: `${TINY},${FULL}`, DREAM_SHUTDOWN_GRACE_MS: "30000", DREAM_HOLD_TTL_MS: String(HOLD_TTL_MS) });
          const inst = c!;
          inst.spawn();
          const before: Health[] = [];
          const grpcBefore: Serving[] = [];
          const ready = await waitFor("C to become ready", 150_000, async () => {
            if (!inst.alive) throw new Error(`C exited before it was ready:\n${inst.logTail()}`);
            // gRPC first: warming only ever ends, so a gRPC answer taken before a not-ready /healthz was
            // given while not ready too (the other order races the model going live in between).
            const g = await inst.grpcHealth().catch(() => undefined);
            const h = await inst.health().catch(() => undefined);
            if (h === undefined) return undefined; // not listening yet
            if (h.ready) return h;
            before.push(h);
            if (g !== undefined) grpcBefore.push(g);
            return undefined;
          }, 25);
          assert.ok(before.length > 0, "C answered before it was ready");
          for (const h of before) {
            assert.deepEqual([h.status, h.ready], [503, false], JSON.stringify(h));
            assert.ok(Object.values(h.checks).some((v) => v !== "ok"), JSON.stringify(h));
          }
          assert.ok(before.some((h) => h.checks[`model:${FULL}`] === "loading" && h.state === "starting"), `a warming model was named: ${JSON.stringify(before.slice(-1))}`);
          assert.ok(grpcBefore.length > 0 && grpcBefore.every((g) => g === Serving.NOT_SERVING), `gRPC health while warming: ${grpcBefore.join(",")}`);
          assert.deepEqual(ready.checks, { ledger: "ok", balances: "ok", rate_limiter: "ok", [`model:${FULL}`]: "ok", [`model:${TINY}`]: "ok" });
          assert.equal(await inst.grpcHealth(), Serving.SERVING);

          // Draining.
          const shape = { k: 8, t: 240, numSteps: 64 }; // ~4 s alone
          const price = rolloutMicros(shape.k, shape.t);
          const CREDITS = 4 * price;
          const key = await adminKey(b, CREDITS);
          let finishedAt: number | undefined;
          const inflight = predictGrpc(inst, key.rawKey, shape).finally(() => (finishedAt = Date.now()));
          await waitFor("C's request to hold its price", 20_000, async () => ((await ledgerCustomer(backend, key.customerId)).heldMicros === price ? true : undefined), 20);
          const termAt = Date.now();
          inst.signal("SIGTERM");
          const draining = await waitFor("healthz to say not ready", 5_000, async () => {
            const h = await inst.health();
            return h.ready ? undefined : h;
          }, 10);
          assert.deepEqual([draining.status, draining.ready, draining.state], [503, false, "draining"]);
          assert.ok(draining.atMs - termAt < 1_000, `not ready ${draining.atMs - termAt} ms after SIGTERM`);
          assert.equal(finishedAt, undefined, "not ready before the request in flight finished");
          assert.equal(await inst.grpcHealth(), Serving.NOT_SERVING);
          const refusedGrpc = await predictGrpc(inst, key.rawKey, { k: 1, t: 8, numSteps: 1 });
          const refusedRest = await predictRest(inst, key.rawKey, { k: 1, t: 8, numSteps: 1 });
          assert.deepEqual([refusedGrpc.ok, refusedGrpc.code, refusedGrpc.reason], [false, GRPC_UNAVAILABLE, "UNAVAILABLE"], JSON.stringify(refusedGrpc));
          assert.deepEqual([refusedRest.ok, refusedRest.code, refusedRest.reason], [false, 503, "UNAVAILABLE"], JSON.stringify(refusedRest));
          assert.equal(finishedAt, undefined, "new predicts were refused while the request in flight still ran");

          const done = await inflight;
          assert.deepEqual([done.ok, done.frames, done.costMicros], [true, shape.k * (shape.t + 1), price], JSON.stringify(done));
          const exit = await inst.exited;
          const exitedAt = Date.now();
          assert.deepEqual(exit, { code: 0, signal: null }, inst.logTail());
          assert.ok(exitedAt >= finishedAt!, "exited after the request in flight completed");
          assert.ok(exitedAt - termAt < 30_000, `exited ${exitedAt - termAt} ms after SIGTERM (grace 30 s)`);

          // Money: the request in flight posted in full (flushed before exit); the refused ones cost nothing.
          const ledger = await ledgerCustomer(backend, key.customerId);
          assert.deepEqual([ledger.balanceMicros, ledger.heldMicros], [CREDITS - price, 0], JSON.stringify(ledger.entries));
          await expectReconciled([b], backend, "after the drain");
        });
      });
    });
  });

  describe("with both instances on a private Redis Cluster (3 masters + 3 replicas, REDIS_URL=redis+cluster://…)", function () {
    let cluster: RedisClusterProcess | undefined;
    before(async function () {
      this.timeout(60_000);
      cluster = await RedisClusterProcess.start();
    });
    after(async function () {
      this.timeout(30_000);
      await cluster?.stop();
    });
    describe("two instances, one schema, one key prefix", function () {
      const pair = usePair(() => openSharedBackend("cluster", databaseUrl, cluster!.url, { deleteRedisKeys: false }));
      sharedMoneyChecks(pair, "Redis Cluster");
    });
  });
});
