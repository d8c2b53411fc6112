// One suite, two implementations: the in-process limiter always, the Redis limiter when REDIS_URL is
// set (set but unreachable fails loudly; unset shows a pending test saying why). Time is a FakeClock
// for both, so nothing here depends on how fast the machine is.
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import {
  apiKeyRateLimiter,
  defaultKeyPolicy,
  InMemoryRateLimiter,
  IpRateLimiter,
  rateLimitedError,
  rateLimitHeaders,
  RedisRateLimiter,
  type RateLimiter,
} from "../../src/billing/ratelimit";
import { createRedis, rateLimitRedisOptions, type RedisClient } from "../../src/billing/redis/connection";
import { LuaScript } from "../../src/billing/redis/lua-script";
import { GCRA_TAKE_LUA } from "../../src/billing/ratelimit/redis-script";

interface Subject {
  limiter: RateLimiter;
  clock: FakeClock;
}

function conformance(name: string, makeSubject: () => Subject): void {
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

conformance("in-memory", () => {
  const clock = new FakeClock();
  return { clock, limiter: new InMemoryRateLimiter({ clock }) };
});

const redisUrl = process.env.REDIS_URL;
if (redisUrl === undefined || redisUrl === "") {
  describe("RateLimiter conformance: redis", () => {
    it("SKIPPED: REDIS_URL is not set (e.g. REDIS_URL=redis://127.0.0.1:6379 npx mocha test/ratelimit/)");
  });
} else {
  describe("Redis rate limiting", () => {
    let redis: RedisClient;
    // A fresh namespace per run, so buckets left by an earlier run (same FakeClock epoch) never leak in.
    const prefix = `test:rl:${randomUUID()}:`;
    before(async () => {
      redis = createRedis(redisUrl, rateLimitRedisOptions);
      try {
        await redis.ping();
      } catch (err) {
        throw new Error(`REDIS_URL=${redisUrl} is set but Redis is unreachable: ${(err as Error).message}`);
      }
    });
    after(() => redis?.disconnect());

    conformance("redis", () => {
      const clock = new FakeClock();
      return { clock, limiter: new RedisRateLimiter({ redis, keyPrefix: prefix, clock }) };
    });

    it("keys expire when the bucket would be full again", async () => {
      const limiter = new RedisRateLimiter({ redis, keyPrefix: prefix, clock: new FakeClock() });
      const key = `ttl-${randomUUID()}`;
      for (let i = 0; i < 10; i++) await limiter.take(key, defaultKeyPolicy);
      const ttlMs = await redis.pttl(limiter.redisKey(key));
      assert.ok(ttlMs > 0 && ttlMs <= 200, `TTL ${ttlMs} ms should be in (0, 200]: 10 tokens at 20 ms each`);
      // A zero-cost take on an untouched key writes nothing.
      await limiter.take(`${key}-peek`, defaultKeyPolicy, 0);
      assert.equal(await redis.exists(limiter.redisKey(`${key}-peek`)), 0);
    });

    it("runs a script the server has never seen: NOSCRIPT falls back to EVAL, which caches it", async () => {
      // A unique comment gives a SHA no server has cached, without SCRIPT FLUSH (which would disturb
      // other suites sharing this Redis).
      const script = new LuaScript("gcra-take-fresh", `${GCRA_TAKE_LUA}\n-- ${randomUUID()}`);
      const [exists] = (await redis.script("EXISTS", script.sha1)) as number[];
      assert.equal(exists, 0);
      const key = `${prefix}noscript-${randomUUID()}`;
      const reply = (await script.run(redis, [key], ["20000", "200", "1", "1000000"])) as number[];
      assert.deepEqual(reply, [1, 199, 0, 20000]);
      const [cached] = (await redis.script("EXISTS", script.sha1)) as number[];
      assert.equal(cached, 1);
      assert.deepEqual(await script.run(redis, [key], ["20000", "200", "1", "1000000"]), [1, 198, 0, 40000]);
    });

    it("with Redis TIME (production mode) a burst is bounded by the bucket", async () => {
      // Real time passes during the burst, so use a rate so slow (one token per 1000 s) that no token
      // can refill while it runs: the count is then exact without asserting anything about elapsed time.
      const limiter = new RedisRateLimiter({ redis, keyPrefix: prefix });
      const key = `time-${randomUUID()}`;
      const policy = { ratePerS: 0.001, burst: 200 };
      const decisions = await Promise.all(Array.from({ length: 250 }, () => limiter.take(key, policy)));
      assert.equal(decisions.filter((d) => d.allowed).length, 200);
      const denied = decisions.filter((d) => !d.allowed);
      assert.equal(denied.length, 50);
      for (const d of denied) assert.ok(d.retryAfterMs > 0 && d.retryAfterMs <= 1_000_000);
    });
  });
}
