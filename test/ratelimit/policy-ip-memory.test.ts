import { strict as assert } from "node:assert";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { AssertionError } from "../../src/core/assert";
import { defaultKeyPolicy, InMemoryRateLimiter, ipBucketId, resolvePolicy, validatePolicy } from "../../src/billing/ratelimit";

describe("rate-limit policies", () => {
  it("validatePolicy names the field with expected vs given", () => {
    const err = (() => {
      try {
        validatePolicy({ ratePerS: 0, burst: 10 });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(err instanceof ServiceError);
    assert.equal(err.reason, "INVALID_ARGUMENT");
    assert.match(err.message, /^rate_per_s: expected .* got 0$/);
    assert.throws(() => validatePolicy({ ratePerS: 5, burst: 2.5 }), /burst: expected an integer/);
    assert.throws(() => validatePolicy({ ratePerS: Number.NaN, burst: 1 }), /rate_per_s/);
  });

  it("resolvePolicy fills a partial override from the default", () => {
    assert.equal(resolvePolicy(undefined), defaultKeyPolicy);
    assert.deepEqual(resolvePolicy({ ratePerS: 5 }), { ratePerS: 5, burst: 200 });
    assert.throws(() => resolvePolicy({ burst: 0 }), /burst/);
  });

  it("a take costing more than the burst is a programmer error, not a silent forever-deny", async () => {
    const limiter = new InMemoryRateLimiter({ clock: new FakeClock() });
    await assert.rejects(limiter.take("k", { ratePerS: 1, burst: 3 }, 4), AssertionError);
    await assert.rejects(limiter.take("k", { ratePerS: 1, burst: 3 }, -1), AssertionError);
  });
});

describe("ipBucketId", () => {
  it("strips ports and grpc-js prefixes, unmaps IPv4-mapped IPv6", () => {
    assert.equal(ipBucketId("10.1.2.3"), "10.1.2.3");
    assert.equal(ipBucketId("10.1.2.3:5123"), "10.1.2.3");
    assert.equal(ipBucketId("ipv4:10.1.2.3:5123"), "10.1.2.3");
    assert.equal(ipBucketId("::ffff:10.1.2.3"), "10.1.2.3");
    assert.equal(ipBucketId("[::ffff:10.1.2.3]:80"), "10.1.2.3");
  });

  it("buckets IPv6 per /64", () => {
    assert.equal(ipBucketId("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    assert.equal(ipBucketId("ipv6:[2001:0db8:0001:0002::9]:443"), "2001:db8:1:2::/64");
    assert.equal(ipBucketId("2001:DB8:1:2::"), "2001:db8:1:2::/64");
    assert.equal(ipBucketId("::1"), "0:0:0:0::/64");
    assert.equal(ipBucketId("fe80::1%eth0"), "fe80:0:0:0::/64");
    assert.equal(ipBucketId("64:ff9b::192.0.2.33"), "64:ff9b:0:0::/64");
  });

  it("keeps unknown shapes as their own bucket", () => {
    assert.equal(ipBucketId("unix:/tmp/sock"), "unix:/tmp/sock");
  });
});

describe("InMemoryRateLimiter memory bound", () => {
  it("never tracks more than keysMax keys; full buckets go first, then the least recently used", async () => {
    const clock = new FakeClock();
    const limiter = new InMemoryRateLimiter({ clock, keysMax: 10 });
    const policy = { ratePerS: 1, burst: 5 };
    for (let i = 0; i < 5; i++) await limiter.take(`old-${i}`, policy);
    clock.advanceMs(1000); // old-* buckets are full again: identical to fresh keys
    for (let i = 0; i < 5; i++) await limiter.take(`hot-${i}`, policy);
    await limiter.take("hot-0", policy); // hot-0 becomes most recently used
    await limiter.take("new-0", policy);
    assert.equal(limiter.size, 6, "the five full buckets were dropped");
    for (let i = 1; i <= 6; i++) await limiter.take(`flood-${i}`, policy);
    assert.equal(limiter.size, 10);
    // hot-1 and hot-2 were the least recently used active keys: dropped, so they start fresh (fail open).
    assert.equal((await limiter.take("hot-1", policy, 0)).remaining, 5);
    // hot-0 was used recently: its bucket survived, two tokens spent.
    assert.equal((await limiter.take("hot-0", policy, 0)).remaining, 3);
    assert.equal((await limiter.take("hot-3", policy, 0)).remaining, 4);
  });
});
