// Settlement behind the response (src/app/settle-behind.ts): post returns before the ledger work, and
// every later billing call of the same customer waits for it; other customers do not.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { settleBehind } from "../../src/app/settle-behind";
import { createLogger } from "../../src/observability/logger";
import type { Account, BillingPort } from "../../src/service/ports";

const alice: Account = { customerId: "cus_alice", keyId: "k1", rateLimit: { ratePerS: 1, burst: 1 } };
const bob: Account = { customerId: "cus_bob", keyId: "k2", rateLimit: { ratePerS: 1, burst: 1 } };

/** A port whose posts wait for the test; every call is logged in the order it reached the ledger. */
function fakePort() {
  const log: string[] = [];
  const gates: (() => void)[] = [];
  let failNext = false;
  const port: BillingPort = {
    authenticate: async () => alice,
    reserve: async (a, id) => void log.push(`reserve ${a.customerId} ${id}`),
    post: (a, id, micros) =>
      new Promise<void>((resolve, reject) => {
        gates.push(() => {
          log.push(`post ${a.customerId} ${id} ${micros}`);
          if (failNext) {
            failNext = false;
            reject(new Error("ledger down"));
          } else resolve();
        });
      }),
    void: async (a, id) => void log.push(`void ${a.customerId} ${id}`),
    balance: async (a) => {
      log.push(`balance ${a.customerId}`);
      return { customerId: a.customerId, balanceMicros: 0 } as never;
    },
    transactions: async (a) => {
      log.push(`transactions ${a.customerId}`);
      return [];
    },
    createTopup: async () => ({ sessionId: "s", url: "u", amountCents: 500, amountUsd: 5, customerId: "c" }),
  };
  return { port, log, open: () => gates.shift()!(), failNext: () => (failNext = true), get waiting() { return gates.length; } };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

describe("app/settle-behind: posts off the response's critical path", () => {
  it("post resolves before the ledger posts; the customer's balance read waits for it, another customer's does not", async () => {
    const f = fakePort();
    const port = settleBehind(f.port, createLogger("silent"));
    await port.post(alice, "r1", 300); // resolves at once
    assert.equal(port.pending, 1);
    const aliceBalance = port.balance(alice);
    await port.balance(bob);
    await tick();
    assert.deepEqual(f.log, ["balance cus_bob"], "bob is not held up; alice's read waits for her post");
    f.open();
    await aliceBalance;
    assert.deepEqual(f.log, ["balance cus_bob", "post cus_alice r1 300", "balance cus_alice"]);
    assert.equal(port.pending, 0);
  });

  it("a customer's settlements and next reserve keep their order", async () => {
    const f = fakePort();
    const port = settleBehind(f.port, createLogger("silent"));
    await port.post(alice, "r1", 100);
    await port.post(alice, "r2", 200);
    const next = port.reserve(alice, "r3", 500);
    await tick();
    assert.equal(f.waiting, 1, "r2's post waits for r1's");
    f.open();
    await tick();
    f.open();
    await next;
    assert.deepEqual(f.log, ["post cus_alice r1 100", "post cus_alice r2 200", "reserve cus_alice r3"]);
  });

  it("a failed post is logged, not thrown, and later calls still run; flush waits for posts in flight", async () => {
    const f = fakePort();
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const port = settleBehind(f.port, createLogger("error", sink));
    f.failNext();
    await port.post(alice, "r1", 100);
    let flushed = false;
    const flush = port.flush().then(() => (flushed = true));
    await tick();
    assert.equal(flushed, false);
    f.open();
    await flush;
    await port.void(alice, "r2");
    assert.deepEqual(f.log, ["post cus_alice r1 100", "void cus_alice r2"]);
    assert.ok(lines.some((l) => l.includes("settlement failed") && l.includes("r1")), lines.join(""));
  });
});
