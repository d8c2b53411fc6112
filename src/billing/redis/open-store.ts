// Opens the Redis balance store that fits the connection: the cluster layout on a Redis Cluster
// client (REDIS_URL=redis+cluster://...), the standalone one otherwise. The two layouts differ (hash
// tags, per-bucket markers), so a deployment moving between them starts from a rebuild.
import type { Clock } from "../../core/clock";
import type { BalanceStore } from "../store/balance-store";
import { RedisClusterBalanceStore } from "./cluster-store";
import { isCluster, type RedisClient } from "./connection";
import { RedisBalanceStore, type RedisStoreOptions } from "./redis-store";

export function openRedisBalanceStore(redis: RedisClient, clock: Clock, options: RedisStoreOptions = {}): Promise<BalanceStore> {
  return isCluster(redis) ? RedisClusterBalanceStore.open(redis, clock, options) : RedisBalanceStore.open(redis, clock, options);
}
