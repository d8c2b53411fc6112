// The RateLimiter behavioural contract, shared by every implementation and deployment: in-process,
// Redis (REDIS_URL) and Redis Cluster (test/ratelimit/cluster.test.ts). Time is a FakeClock, so nothing
// here depends on how fast the machine is.
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { apiKeyRateLimiter, defaultKeyPolicy, IpRateLimiter, rateLimitedError, rateLimitHeaders, type RateLimiter } from "../../src/billing/ratelimit";

export interface Subject {
  limiter: RateLimiter;
  clock: FakeClock;
}

export function rateLimiterConformance(name: string, makeSubject: () => Subject): void {
  describe(`RateLimiter conformance: ${name}`, () => {
    let subject: Subject;
    let key: string;
    beforeEach(() => {
      subject = makeSubject();
      key = `k-${randomUUID()}`;
    });

    it("250 concurrent takes on a fresh key at 50/s burst 200: exactly 200 pass, 50 are denied", async () => {
      const decisions = await Promise.all(Array.from({ length: 250 }, () => subject.limiter.take(key, defaultKeyPolicy)));
      const allowed = decisions.filter((d) => d.allowed);
      const denied = decisions.filter((d) => !d.allowed);
      assert.equal(allowed.length, 200);
      assert.equal(denied.length, 50);
      // Each allowed take saw a distinct remaining count: the read-decide-write is atomic.
      assert.deepEqual(allowed.map((d) => d.remaining).sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i));
      for (const d of denied) {
        assert.equal(d.remaining, 0);
        assert.equal(d.retryAfterMs, 20, "one token refills every 20 ms at 50/s");
        assert.equal(d.resetMs, 4000, "an empty bucket of 200 refills in 4 s");
      }
      for (const d of allowed) assert.equal(d.retryAfterMs, 0);
    });

    it("a denied take turns into 429 headers with Retry-After rounded up to 1 s", async () => {
      const scope = apiKeyRateLimiter(subject.limiter);
      for (let i = 0; i < 200; i++) assert.ok((await scope.admit(key)).decision.allowed);
      const denied = await scope.admit(key);
      assert.equal(denied.decision.allowed, false);
      assert.deepEqual(rateLimitHeaders(denied), {
        "ratelimit-policy": '"per-key";q=200;w=4',
        ratelimit: '"per-key";r=0;t=1',
        "retry-after": "1",
      });
      const err = rateLimitedError(denied);
      assert.ok(err instanceof ServiceError);
      assert.equal(err.reason, "RATE_LIMITED");
      assert.equal(err.http, 429);
      assert.equal(err.retryAfterS, 1);
      assert.equal(err.details.retry_after_ms, 20);
    });

    it("after waiting retryAfter a take passes again, and only one", async () => {
      for (let i = 0; i < 200; i++) await subject.limiter.take(key, defaultKeyPolicy);
      const denied = await subject.limiter.take(key, defaultKeyPolicy);
      assert.equal(denied.allowed, false);
      subject.clock.advanceMs(denied.retryAfterMs);
      const again = await subject.limiter.take(key, defaultKeyPolicy);
      assert.equal(again.allowed, true);
      assert.equal(again.remaining, 0);
      assert.equal((await subject.limiter.take(key, defaultKeyPolicy)).allowed, false);
    });

    it("refills continuously: one second after draining, exactly 50 more pass", async () => {
      for (let i = 0; i < 200; i++) await subject.limiter.take(key, defaultKeyPolicy);
      subject.clock.advanceMs(1000);
      let passed = 0;
      for (let i = 0; i < 60; i++) if ((await subject.limiter.take(key, defaultKeyPolicy)).allowed) passed++;
      assert.equal(passed, 50);
    });

    it("a second key is unaffected by the first key's exhaustion", async () => {
      for (let i = 0; i < 250; i++) await subject.limiter.take(key, defaultKeyPolicy);
      const other = `${key}-other`;
      const first = await subject.limiter.take(other, defaultKeyPolicy);
      assert.equal(first.allowed, true);
      assert.equal(first.remaining, 199);
    });

    it("honours a per-key override passed by the caller (5/s, burst 10)", async () => {
      const scope = apiKeyRateLimiter(subject.limiter);
      const override = { ratePerS: 5, burst: 10 };
      const results = [];
      for (let i = 0; i < 12; i++) results.push(await scope.admit(key, override));
      assert.equal(results.filter((r) => r.decision.allowed).length, 10);
      const denied = results[10];
      assert.equal(denied.decision.retryAfterMs, 200);
      assert.deepEqual(denied.policy, override);
      assert.equal(rateLimitHeaders(denied)["ratelimit-policy"], '"per-key";q=10;w=2');
      // A partial override keeps the other field from the default.
      const partial = await scope.admit(`${key}-p`, { burst: 3 });
      assert.deepEqual(partial.policy, { ratePerS: 50, burst: 3 });
      assert.equal(partial.decision.remaining, 2);
    });

    it("a take of cost n consumes n tokens; a denied take consumes nothing", async () => {
      const policy = { ratePerS: 10, burst: 10 };
      assert.equal((await subject.limiter.take(key, policy, 7)).remaining, 3);
      const denied = await subject.limiter.take(key, policy, 5);
      assert.equal(denied.allowed, false);
      assert.equal(denied.remaining, 3);
      assert.equal(denied.retryAfterMs, 200, "two more tokens at 100 ms each");
      assert.equal((await subject.limiter.take(key, policy, 3)).allowed, true);
      const peek = await subject.limiter.take(key, policy, 0);
      assert.equal(peek.allowed, true);
      assert.equal(peek.remaining, 0);
    });

    it("resetMs and the RateLimit header's t count down to a full bucket", async () => {
      const scope = apiKeyRateLimiter(subject.limiter);
      let last;
      for (let i = 0; i < 100; i++) last = await scope.admit(key);
      assert.ok(last);
      assert.equal(last.decision.remaining, 100);
      assert.equal(last.decision.resetMs, 2000);
      assert.equal(rateLimitHeaders(last).ratelimit, '"per-key";r=100;t=2');
      assert.equal(rateLimitHeaders(last)["retry-after"], undefined);
      subject.clock.advanceMs(2000);
      const full = await subject.limiter.take(key, defaultKeyPolicy, 0);
      assert.equal(full.remaining, 200);
      assert.equal(full.resetMs, 0);
    });

    it("per-IP scope uses its own prefix and policy and buckets IPv6 per /64", async () => {
      const ips = new IpRateLimiter(subject.limiter, { ratePerS: 1, burst: 2 });
      const keys = apiKeyRateLimiter(subject.limiter);
      const suffix = randomUUID().slice(0, 4);
      const v6a = `ipv6:[2001:db8:${suffix}:1::a]:5000`;
      const v6b = `2001:db8:${suffix}:1:ffff::b`;
      assert.equal((await ips.admitPeer(v6a)).decision.allowed, true);
      assert.equal((await ips.admitPeer(v6b)).decision.allowed, true);
      const third = await ips.admitPeer(v6a);
      assert.equal(third.decision.allowed, false, "same /64 shares one bucket");
      assert.equal(rateLimitHeaders(third)["ratelimit-policy"], '"per-ip";q=2;w=2');
      // An API key whose id equals the bucket id is a different bucket.
      assert.equal((await keys.admit(`2001:db8:${suffix}:1::/64`)).decision.allowed, true);
    });
  });
}
