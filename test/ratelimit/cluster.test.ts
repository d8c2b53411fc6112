// The rate limiter on a private Redis Cluster (3 masters + 3 replicas started here): the conformance
// suite unchanged, and production mode (Redis TIME) across masters. A take names one key, so it is
// in one slot by construction; different keys spread over every master. Needs redis-server and
// redis-cli on PATH (missing is a failure, never a skip).
import { strict as assert } from "node:assert";
import { randomUUID } from "node:crypto";
import { FakeClock } from "../../src/core/clock";
import { RedisRateLimiter, defaultKeyPolicy } from "../../src/billing/ratelimit";
import { createRedis, isCluster, rateLimitRedisOptions, type RedisClient } from "../../src/billing/redis/connection";
import { RedisClusterProcess } from "../billing/helpers/redis-cluster";
import { rateLimiterConformance } from "./limiter.conformance";

describe("Redis Cluster rate limiting (private 3+3 cluster)", function () {
  this.timeout(60_000);
  let cluster: RedisClusterProcess;
  let redis: RedisClient;
  const prefix = `test:rl:${randomUUID()}:`;

  before(async () => {
    cluster = await RedisClusterProcess.start();
    redis = createRedis(cluster.url, rateLimitRedisOptions);
    assert.ok(isCluster(redis));
    await redis.connect();
  });
  after(async () => {
    try {
      redis?.disconnect();
    } finally {
      await cluster?.stop();
    }
  });

  rateLimiterConformance("redis cluster", () => {
    const clock = new FakeClock();
    return { clock, limiter: new RedisRateLimiter({ redis, keyPrefix: prefix, clock }) };
  });

  it("keys of many callers spread over every master, each bucket exact on its own master (Redis TIME)", async () => {
    const limiter = new RedisRateLimiter({ redis, keyPrefix: prefix });
    const keys = Array.from({ length: 24 }, (_, i) => `spread-${i}-${randomUUID()}`);
    const masters = await cluster.masters();
    const admin = await cluster.admin(masters[0]!.port);
    const owners = new Set<number>();
    for (const key of keys) {
      const slot = Number(await admin.call("CLUSTER", "KEYSLOT", limiter.redisKey(key)));
      owners.add(masters.find((m) => m.slots.some(([a, z]) => slot >= a && slot <= z))!.port);
    }
    assert.equal(owners.size, 3, "24 random keys should land on all three masters");
    // One token per 1000 s: none refills during the burst, so the counts are exact per key.
    const policy = { ratePerS: 0.001, burst: 20 };
    const decisions = await Promise.all(keys.flatMap((key) => Array.from({ length: 25 }, () => limiter.take(key, policy).then((d) => ({ key, d })))));
    for (const key of keys) {
      const mine = decisions.filter((x) => x.key === key);
      assert.equal(mine.filter((x) => x.d.allowed).length, 20, key);
    }
    assert.equal(await limiter.check(), "ok");
    assert.equal((await limiter.take(`fresh-${randomUUID()}`, defaultKeyPolicy)).allowed, true);
  });
});
