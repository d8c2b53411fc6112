// The Redis limiter with its server gone: a take rejects with RateLimiterUnavailableError (never a raw
// ioredis error), and the service port turns that into UNAVAILABLE (503) with a retry hint, per key and
// per peer. A private redis-server, killed by pid; never the shared one.
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { rateLimitPort } from "../../src/app/limiter";
import { defaultKeyPolicy, RateLimiterUnavailableError, RedisRateLimiter } from "../../src/billing/ratelimit";
import { createRedis, rateLimitRedisOptions, type RedisClient } from "../../src/billing/redis/connection";
import { Code, ServiceError } from "../../src/core/errors";
import { RedisServerProcess, redisServerBinary } from "../billing/helpers/redis-server";

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  assert.fail("expected a rejection");
}

describe("RedisRateLimiter: store unreachable", function () {
  this.timeout(30_000);
  if (!redisServerBinary()) {
    if (process.env.REDIS_URL) it("redis-server must be on PATH when REDIS_URL is set", () => assert.fail("redis-server binary not found"));
    else it("SKIPPED: no redis-server binary on PATH (CI has one)");
    return;
  }
  let server: RedisServerProcess;
  let redis: RedisClient;
  let limiter: RedisRateLimiter;

  before(async () => {
    server = await RedisServerProcess.start();
    redis = createRedis(server.url, rateLimitRedisOptions);
    limiter = new RedisRateLimiter({ redis, keyPrefix: `test:rl:${randomUUID()}:` });
  });
  after(async () => {
    redis?.disconnect();
    await server?.stop();
  });

  it("takes reject as RateLimiterUnavailableError while Redis is down, the port answers UNAVAILABLE with a retry hint, and both recover", async () => {
    assert.equal((await limiter.take("k", defaultKeyPolicy)).allowed, true);
    assert.equal(await limiter.check(), "ok");
    await server.kill();
    // The first takes after the kill may meet the dying socket; every one must be the typed error.
    for (let i = 0; i < 3; i++) {
      const err = await rejection(limiter.take("k", defaultKeyPolicy));
      assert.ok(err instanceof RateLimiterUnavailableError, `take ${i}: ${String(err)}`);
    }
    assert.match(await limiter.check(), /unreachable/);

    const port = rateLimitPort(limiter);
    for (const call of [() => port.takeKey("key-1", defaultKeyPolicy), () => port.takePeer("ipv4:10.1.2.3:5555")]) {
      const err = await rejection(call());
      assert.ok(err instanceof ServiceError, String(err));
      assert.equal(err.reason, "UNAVAILABLE");
      assert.equal(err.code, Code.UNAVAILABLE);
      assert.equal(err.http, 503);
      assert.ok(err.retryAfterS !== undefined && err.retryAfterS >= 1, `retry hint: ${err.retryAfterS}`);
    }

    await server.restart();
    for (;;) {
      if ((await limiter.check()) === "ok") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await limiter.take("k", defaultKeyPolicy)).allowed, true);
    assert.ok((await port.takeKey("key-1", defaultKeyPolicy))["ratelimit"]);
  });
});
