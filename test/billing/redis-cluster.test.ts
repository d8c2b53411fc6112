// The BalanceStore conformance suite against a private Redis Cluster (3 masters + 3 replicas started
// here), plus what is particular to the cluster layout: every script's keys in one slot, buckets over
// every master, NOSCRIPT on a node, and REDIS_URL parsing. Needs redis-server and redis-cli on PATH
// (missing is a failure, never a skip).
import assert from "node:assert/strict";
import { FakeClock } from "../../src/core/clock";
import { RedisUrlError, parseClusterUrl } from "../../src/billing/redis/cluster-url";
import { RedisClusterBalanceStore } from "../../src/billing/redis/cluster-store";
import { BUCKETS } from "../../src/billing/redis/cluster-keys";
import { createRedis, isCluster, type RedisClient } from "../../src/billing/redis/connection";
import { openRedisBalanceStore } from "../../src/billing/redis/open-store";
import { balanceStoreConformance } from "./balance-store.conformance";
import { uniqueName } from "./helpers/env";
import { RedisClusterProcess } from "./helpers/redis-cluster";

describe("billing/store: Redis Cluster (private 3+3 cluster)", function () {
  this.timeout(60_000);
  let cluster: RedisClusterProcess;
  const clients: RedisClient[] = [];

  before(async () => {
    cluster = await RedisClusterProcess.start();
  });
  after(async () => {
    try {
      for (const c of clients) c.disconnect();
    } finally {
      await cluster?.stop();
    }
  });

  async function openStore(prefix = uniqueName("test:billing")): Promise<{ store: RedisClusterBalanceStore; redis: RedisClient }> {
    const redis = createRedis(cluster.url);
    assert.ok(isCluster(redis));
    const store = (await openRedisBalanceStore(redis, new FakeClock(), { prefix })) as RedisClusterBalanceStore;
    assert.ok(store instanceof RedisClusterBalanceStore);
    return { store, redis };
  }

  describe("conformance", () => {
    balanceStoreConformance(async () => {
      const clock = new FakeClock();
      const redis = createRedis(cluster.url);
      const store = await RedisClusterBalanceStore.open(redis, clock, { prefix: uniqueName("test:billing") });
      return {
        store,
        clock,
        // What a flush of every master would leave: no bucket is a complete mirror any more.
        lose: async () => void (await Promise.all(store.keys.all().map((b) => redis.del(store.keys.gen(b))))),
        close: () => store.close(),
      };
    });
  });

  it("hash-tags every key of a script into one slot, and spreads the buckets over every master", async () => {
    const { store, redis } = await openStore();
    clients.push(redis);
    const admin = await cluster.admin(cluster.nodes[0]!.port);
    const slotOf = async (key: string): Promise<number> => Number(await admin.call("CLUSTER", "KEYSLOT", key));
    const k = store.keys;
    const slots = await Promise.all(k.all().map((b) => slotOf(k.gen(b))));
    for (const b of k.all()) {
      // The keys one reserve / settle / credit / resync names, for a customer of this bucket.
      const c = `cus-${b}`;
      const bb = k.bucketOf(c);
      const named = [k.gen(bb), k.lock(bb), k.exp(bb), k.customers(bb), k.customer(bb, c), k.pending(bb, c), k.hold(bb, "req-{x}"), k.creditMarker(bb, c, "7")];
      assert.deepEqual(new Set(await Promise.all(named.map(slotOf))), new Set([slots[bb]]), `bucket ${bb}`);
    }
    const masters = await cluster.masters();
    const perMaster = masters.map((m) => slots.filter((s) => m.slots.some(([a, z]) => s >= a && s <= z)).length);
    assert.equal(perMaster.reduce((a, b) => a + b, 0), BUCKETS);
    assert.ok(perMaster.every((n) => n >= BUCKETS / 6), `buckets per master: ${perMaster.join(", ")}`);
  });

  it("loads its scripts again on a node that lost them (SCRIPT FLUSH on every master: NOSCRIPT → EVAL)", async () => {
    const { store, redis } = await openStore();
    clients.push(redis);
    const token = await store.beginRebuild();
    assert.ok(token && (await store.finishRebuild(token)));
    for (const m of await cluster.masters()) await (await cluster.admin(m.port)).script("FLUSH");
    const customers = Array.from({ length: 12 }, (_, i) => `flushed-${i}`);
    for (const c of customers) assert.deepEqual(await store.credit(c, 7), { applied: true, availableMicros: 7 });
    assert.equal(await store.ready(), true);
  });

  it("finds a hold by request id through its index, which expires with the tombstone; a cancelled id may move to another customer", async () => {
    const { store, redis } = await openStore();
    clients.push(redis);
    const token = await store.beginRebuild();
    assert.ok(token && (await store.finishRebuild(token)));
    // Two customers in different buckets (on different slots): the request id decides nothing by itself.
    const [a, b] = ["idx-a", "idx-b-2"];
    assert.notEqual(store.keys.bucketOf(a), store.keys.bucketOf(b));
    await store.credit(a, 1_000);
    await store.credit(b, 1_000);
    assert.equal((await store.reserve(a, 400, "r-shared", 60_000)).status, "held");
    const dup = await store.reserve(b, 400, "r-shared", 60_000);
    assert.deepEqual([dup.status, dup.status === "duplicate" && dup.hold.customerId, dup.availableMicros], ["duplicate", a, 1_000]);
    assert.equal(await redis.pttl(store.keys.requestIndex("r-shared")), -1, "a pending hold's index never expires");
    assert.equal((await store.cancel("r-shared")).status, "applied");
    assert.ok((await redis.pttl(store.keys.requestIndex("r-shared"))) > 0, "a settled hold's index expires with its tombstone");
    assert.equal((await store.reserve(b, 400, "r-shared", 60_000)).status, "held");
    assert.equal((await store.hold("r-shared"))?.customerId, b);
    assert.equal((await store.post("r-shared", 100)).status, "applied");
    assert.deepEqual(await store.balance(a), { availableMicros: 1_000, heldMicros: 0 });
    assert.deepEqual(await store.balance(b), { availableMicros: 900, heldMicros: 0 });
  });

  it("is not ready after a rebuild that lost a bucket's lock copy, and a stale rebuild cannot finish", async () => {
    const { store, redis } = await openStore();
    clients.push(redis);
    const token = await store.beginRebuild();
    assert.ok(token);
    await redis.del(store.keys.lock(5)); // as a failover that lost the bucket's recent writes would
    assert.equal(await store.finishRebuild(token), false);
    assert.equal(await store.ready(), false);
    // The failed rebuild gave the global lock back: a retry can start at once.
    const again = await store.beginRebuild();
    assert.ok(again && (await store.finishRebuild(again)));
    assert.equal(await store.ready(), true);
  });
});

describe("billing/redis: REDIS_URL for a cluster", () => {
  it("parses seeds, credentials and IPv6 hosts", () => {
    assert.deepEqual(parseClusterUrl("redis+cluster://127.0.0.1:7000,127.0.0.1:7001"), { nodes: [{ host: "127.0.0.1", port: 7000 }, { host: "127.0.0.1", port: 7001 }] });
    assert.deepEqual(parseClusterUrl("redis+cluster://app:s%40cret@redis-0.redis:6379,[::1]:7000/"), {
      nodes: [{ host: "redis-0.redis", port: 6379 }, { host: "::1", port: 7000 }],
      username: "app",
      password: "s@cret",
    });
  });

  it("createRedis (the factory's and the app's one constructor) gives a Cluster client for redis+cluster:// only", () => {
    assert.equal(isCluster(createRedis("redis+cluster://127.0.0.1:1")), true);
    assert.equal(isCluster(createRedis("redis://127.0.0.1:1")), false);
  });

  for (const bad of ["redis+cluster://", "redis+cluster://127.0.0.1", "redis+cluster://127.0.0.1:7000,,127.0.0.1:7001", "redis+cluster://h:99999", "redis+cluster://h:7000/2", "redis+cluster://u:pw@h"]) {
    it(`refuses ${JSON.stringify(bad)} at once, naming REDIS_URL and hiding the password`, () => {
      assert.throws(
        () => createRedis(bad),
        (err: unknown) => err instanceof RedisUrlError && err.message.startsWith("REDIS_URL must be redis+cluster://") && !err.message.includes("pw@"),
      );
    });
  }
});
