// One suite (limiter.conformance.ts), two implementations: the in-process limiter always, the Redis
// limiter when REDIS_URL is set (set but unreachable fails loudly; unset shows a pending test saying
// why). The same suite runs on a Redis Cluster in cluster.test.ts.
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { FakeClock } from "../../src/core/clock";
import { defaultKeyPolicy, InMemoryRateLimiter, RedisRateLimiter } from "../../src/billing/ratelimit";
import { createRedis, rateLimitRedisOptions, type RedisClient } from "../../src/billing/redis/connection";
import { LuaScript } from "../../src/billing/redis/lua-script";
import { GCRA_TAKE_LUA } from "../../src/billing/ratelimit/redis-script";
import { rateLimiterConformance } from "./limiter.conformance";

rateLimiterConformance("in-memory", () => {
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

    rateLimiterConformance("redis", () => {
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
