import { strict as assert } from "assert";
import { Semaphore } from "../../src/codec/semaphore";
import { ServiceError } from "../../src/core/errors";

const tick = () => new Promise((r) => setImmediate(r));

describe("codec/Semaphore", () => {
  it("grants up to capacity and queues the rest FIFO", async () => {
    const s = new Semaphore(3, "t");
    const order: string[] = [];
    await s.acquire(2);
    const big = s.acquire(3).then(() => order.push("big"));
    const small = s.acquire(1).then(() => order.push("small"));
    await tick();
    // 1 permit is free, but the small waiter stays behind the big one (no starvation of big K).
    assert.deepEqual(order, []);
    assert.equal(s.stats().waiting, 2);
    s.release(2);
    await big;
    assert.deepEqual(order, ["big"]);
    s.release(3);
    await small;
    assert.deepEqual(order, ["big", "small"]);
    s.release(1);
    assert.equal(s.stats().inUse, 0);
    assert.equal(s.stats().peak, 3);
  });

  it("fails fast when more permits are asked than exist", async () => {
    const s = new Semaphore(2, "pool");
    await assert.rejects(s.acquire(3), (e: unknown) => e instanceof ServiceError && /3 permits requested but only 2 exist/.test(e.message));
  });

  it("an aborted waiter leaves the queue and lets the next one in", async () => {
    const s = new Semaphore(1, "pool");
    await s.acquire();
    const ac = new AbortController();
    const a = s.acquire(1, ac.signal);
    let bGot = false;
    const b = s.acquire(1).then(() => (bGot = true));
    ac.abort();
    await assert.rejects(a, (e: unknown) => e instanceof ServiceError && e.reason === "CANCELLED");
    s.release();
    await b;
    assert.ok(bGot);
    s.release();
  });

  it("run() releases even when the task throws", async () => {
    const s = new Semaphore(1, "pool");
    await assert.rejects(s.run(async () => { throw new Error("boom"); }), /boom/);
    assert.equal(s.stats().inUse, 0);
  });
});
