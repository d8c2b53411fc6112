// The BalanceStore conformance suite against the in-process store (always) and Redis (REDIS_URL).
import assert from "node:assert/strict";
import { FakeClock } from "../../src/core/clock";
import { createRedis } from "../../src/billing/redis/connection";
import { RedisBalanceStore } from "../../src/billing/redis/redis-store";
import { StoreUnavailableError } from "../../src/billing/store/balance-store";
import { MemoryBalanceStore } from "../../src/billing/store/memory-store";
import { balanceStoreConformance } from "./balance-store.conformance";
import { REDIS_URL, describeWithEnv, uniqueName } from "./helpers/env";

describe("billing/store: in-process", function () {
  balanceStoreConformance(async () => {
    const clock = new FakeClock();
    const store = new MemoryBalanceStore(clock);
    return {
      store,
      clock,
      lose: async () => store.forget(),
      close: () => store.close(),
    };
  });
});

describeWithEnv("REDIS_URL", REDIS_URL, "billing/store: Redis (REDIS_URL)", (url) => {
  balanceStoreConformance(async () => {
    const clock = new FakeClock();
    const prefix = uniqueName("test:billing");
    const redis = createRedis(url);
    const store = await RedisBalanceStore.open(redis, clock, { prefix });
    return {
      store,
      clock,
      lose: async () => void (await redis.del(`${prefix}:gen`)),
      async close() {
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
        await store.close();
      },
    };
  });

  it("loads its scripts again after SCRIPT FLUSH (EVALSHA → NOSCRIPT → EVAL)", async () => {
    const clock = new FakeClock();
    const prefix = uniqueName("test:billing");
    const redis = createRedis(url);
    const store = await RedisBalanceStore.open(redis, clock, { prefix });
    try {
      const token = await store.beginRebuild();
      await store.finishRebuild(token!);
      await redis.script("FLUSH");
      assert.deepEqual(await store.credit("c", 7), { applied: true, availableMicros: 7 });
    } finally {
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) await redis.del(...keys);
      await store.close();
    }
  });
});

describe("billing/store: Redis unreachable", function () {
  it("is a StoreUnavailableError, not a hang", async () => {
    await assert.rejects(RedisBalanceStore.open(createRedis("redis://127.0.0.1:1"), new FakeClock()), StoreUnavailableError);
  });
});
