// Money through the real predict path (gRPC → guard → reserve → engine → settle), on the embedded
// stores and, when DATABASE_URL / REDIS_URL are set, on real Postgres + Redis.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { DreamClient, DreamError, packActions } from "../../clients/typescript/src";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import type { SchedulerEngine } from "../../src/app/engine";
import { startHarness, testActions, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const ROLLOUT_MICROS = 24_500; // 49 frames x 500 µUSD

const backends: { name: string; env: Record<string, string | undefined> }[] = [{ name: "embedded ledger + in-process balances", env: { DATABASE_URL: "", REDIS_URL: "" } }];
if (process.env.DATABASE_URL && process.env.REDIS_URL) {
  backends.push({ name: "Postgres ledger + Redis balances", env: { DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL } });
}

for (const backend of backends) {
  describe(`e2e billing (${backend.name})`, function () {
    this.timeout(300_000);
    let h: Harness;
    const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: testFrame(48, 64), height: 48, width: 64 };
    const candidates = (k: number, t = 48) => Array.from({ length: k }, (_, i) => packActions(testActions(t, 384, i), t, 384));
    const engine = () => h.app.registry.get(TINY).engine as SchedulerEngine;

    before(async () => {
      h = await startHarness(backend.env);
    });
    after(async () => h?.stop());

    it("50 concurrent predicts on a balance covering exactly 20: 20 run, 30 get 402 before any runner work, balance ends at 0", async () => {
      const key = await h.newKey((20 * ROLLOUT_MICROS) / 1_000_000);
      const client = new DreamClient({ address: h.grpcAddress, apiKey: key.rawKey });
      const endedBefore = engine().scheduler.stats().ended;
      const startedBefore = endedBefore.completed + endedBefore.failed + endedBefore.cancelled + endedBefore.deadline;
      let lowest = Number.POSITIVE_INFINITY;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          lowest = Math.min(lowest, (await h.app.billing.balance(key.customerId)).balanceMicros);
          await new Promise((r) => setImmediate(r));
        }
      })();
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => client.predictBatch({ model: TINY, startFrame, candidates: candidates(1) })));
      watching = false;
      await watcher;
      client.close();
      const ok = results.filter((r) => r.status === "fulfilled");
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
      assert.equal(ok.length, 20);
      assert.equal(rejected.length, 30);
      for (const r of rejected) {
        assert.ok(r.reason instanceof DreamError);
        assert.equal(r.reason.reason, "INSUFFICIENT_CREDITS");
        assert.equal(r.reason.details.requested_micros, String(ROLLOUT_MICROS));
        assert.equal(r.reason.details.requested_cents, "3"); // 2.45 cents rounded up
      }
      const endedAfter = engine().scheduler.stats().ended;
      const startedAfter = endedAfter.completed + endedAfter.failed + endedAfter.cancelled + endedAfter.deadline;
      assert.equal(startedAfter - startedBefore, 20, "only the 20 paid requests reached the scheduler");
      const balance = await h.balanceOf(key.customerId);
      assert.equal(balance.balanceMicros, 0);
      assert.equal(balance.heldMicros, 0);
      assert.ok(lowest >= 0, `balance went negative: ${lowest}`);
    });

    it("a 49-frame rollout costs exactly $0.0245 and a K=8 batch $0.196, debited exactly", async () => {
      const key = await h.newKey(1);
      const client = new DreamClient({ address: h.grpcAddress, apiKey: key.rawKey });
      const one = await client.predictBatch({ model: TINY, startFrame, candidates: candidates(1) });
      assert.equal(one.response.summary?.cost?.micros, ROLLOUT_MICROS);
      assert.equal(one.response.summary?.cost?.usd, "0.0245");
      assert.equal(one.headers["x-dreamengine-estimated-charge-usd"], "0.0245");
      assert.equal((await h.balanceOf(key.customerId)).balanceMicros, 1_000_000 - ROLLOUT_MICROS);
      const eight = await client.predictBatch({ model: TINY, startFrame, candidates: candidates(8) });
      assert.equal(eight.response.summary?.cost?.micros, 196_000);
      assert.equal(eight.response.summary?.cost?.usd, "0.196");
      const balance = await client.getBalance();
      assert.equal(balance.balanceMicros, 1_000_000 - ROLLOUT_MICROS - 196_000);
      assert.equal(balance.balanceCents, 78); // 77.95 cents, half-up
      const txns = await h.app.billing.transactions(key.customerId, 10);
      const net = (rid: string | undefined) => txns.filter((t) => t.requestId === rid).reduce((s, t) => s + t.amountMicros, 0);
      assert.equal(net(one.response.summary?.requestId), -ROLLOUT_MICROS);
      assert.equal(net(eight.response.summary?.requestId), -196_000);
      client.close();
    });

    it("a partial last chunk is billed for the frames produced (T=50 → 51 frames)", async () => {
      const key = await h.newKey(1);
      const client = new DreamClient({ address: h.grpcAddress, apiKey: key.rawKey });
      const r = await client.predictBatch({ model: TINY, startFrame, candidates: candidates(2, 50) });
      assert.equal(r.response.rollouts[0]!.frames.length, 51);
      assert.equal(r.response.summary?.cost?.micros, 2 * 51 * 500);
      assert.equal((await h.balanceOf(key.customerId)).balanceMicros, 1_000_000 - 2 * 51 * 500);
      client.close();
    });

    it("402 reports balance (half-up) and requested (rounded up) cents and micros, and moves no money", async () => {
      const key = await h.newKey(0.01); // 10,000 µUSD
      const client = new DreamClient({ address: h.grpcAddress, apiKey: key.rawKey });
      const err = await client.predictBatch({ model: TINY, startFrame, candidates: candidates(1) }).then(
        () => assert.fail("expected 402"),
        (e: unknown) => e as DreamError,
      );
      assert.equal(err.reason, "INSUFFICIENT_CREDITS");
      assert.equal(err.code, 9); // FAILED_PRECONDITION
      assert.equal(err.details.balance_cents, "1");
      assert.equal(err.details.requested_cents, "3");
      assert.equal(err.details.balance_micros, "10000");
      assert.equal(err.details.requested_micros, String(ROLLOUT_MICROS));
      assert.equal((await h.balanceOf(key.customerId)).balanceMicros, 10_000);
      client.close();
    });

    it("a reused request_id never runs or bills twice", async () => {
      const key = await h.newKey(1);
      const client = new DreamClient({ address: h.grpcAddress, apiKey: key.rawKey });
      const requestId = randomUUID();
      await client.predictBatch({ model: TINY, startFrame, candidates: candidates(1), requestId });
      const again = await client.predictBatch({ model: TINY, startFrame, candidates: candidates(1), requestId }).then(
        () => undefined,
        (e: unknown) => e as DreamError,
      );
      assert.equal(again?.reason, "INVALID_ARGUMENT");
      assert.match(again!.message, /already used/);
      assert.equal((await h.balanceOf(key.customerId)).balanceMicros, 1_000_000 - ROLLOUT_MICROS);
      client.close();
    });

    it("request ids are per customer: another customer's id neither blocks nor reveals, in flight or afterwards", async () => {
      const [a, b, c] = [await h.newKey(1), await h.newKey(1), await h.newKey(1)];
      const [ca, cb, cc] = [a, b, c].map((k) => new DreamClient({ address: h.grpcAddress, apiKey: k.rawKey }));
      const inFlight = randomUUID();
      const both = await Promise.all([ca, cb].map((cl) => cl.predictBatch({ model: TINY, startFrame, candidates: candidates(1), requestId: inFlight })));
      assert.deepEqual(both.map((r) => [r.response.summary?.requestId, r.response.summary?.cost?.micros]), [[inFlight, ROLLOUT_MICROS], [inFlight, ROLLOUT_MICROS]]);
      // Sequential: c uses the id a and b already settled, with another price (K=2).
      const later = await cc.predictBatch({ model: TINY, startFrame, candidates: candidates(2), requestId: inFlight });
      assert.equal(later.response.summary?.cost?.micros, 2 * ROLLOUT_MICROS);
      for (const [k, charged] of [[a, ROLLOUT_MICROS], [b, ROLLOUT_MICROS], [c, 2 * ROLLOUT_MICROS]] as const) {
        assert.equal((await h.balanceOf(k.customerId)).balanceMicros, 1_000_000 - charged);
        const mine = (await h.app.billing.transactions(k.customerId, 10)).filter((t) => t.requestId === inFlight);
        assert.deepEqual(mine.map((t) => [t.kind, t.amountMicros]), [["debit", -charged]], "billed independently under the client's own id");
      }
      // a reusing its own id still gets the existing error, and nothing more is charged.
      const again = await ca.predictBatch({ model: TINY, startFrame, candidates: candidates(1), requestId: inFlight }).then(
        () => undefined,
        (e: unknown) => e as DreamError,
      );
      assert.equal(again?.reason, "INVALID_ARGUMENT");
      assert.match(again!.message, /already used/);
      assert.equal((await h.balanceOf(a.customerId)).balanceMicros, 1_000_000 - ROLLOUT_MICROS);
      for (const cl of [ca, cb, cc]) cl.close();
    });

    it("bad input leaves the balance untouched", async () => {
      const key = await h.newKey(1);
      const client = new DreamClient({ address: h.grpcAddress, apiKey: key.rawKey });
      await client.predictBatch({ model: TINY, startFrame, candidates: [packActions(new Float32Array(48 * 10), 48, 10)] }).catch(() => undefined);
      await client.predictBatch({ model: TINY, startFrame: { ...startFrame, height: 64, width: 48 }, candidates: candidates(1) }).catch(() => undefined);
      assert.equal((await h.balanceOf(key.customerId)).balanceMicros, 1_000_000);
      assert.equal((await h.app.billing.transactions(key.customerId, 10)).filter((t) => t.kind !== "grant").length, 0);
      client.close();
    });
  });
}
