// The rate limiter's Redis connection, built by billing's one ioredis factory (src/billing/redis).
import { createRedis, type RedisClient } from "../redis/connection";

export type { RedisClient };

export interface RedisConnectOptions {
  /** Shown in CLIENT LIST, which helps when several subsystems share one Redis. */
  connectionName?: string;
}

export function connectRedis(url: string, options: RedisConnectOptions = {}): RedisClient {
  return createRedis(url, {
    connectionName: options.connectionName ?? "dream-engine:ratelimit",
    // A rate-limit check sits on every request: one retry, then fail fast, rather than queueing the
    // request behind ioredis' default 20 reconnect attempts. Commands issued before the lazy connect
    // completes wait for it (failFast: false keeps the offline queue).
    failFast: false,
    // Many concurrent takes share one socket; auto-pipelining batches them into fewer writes.
    autoPipelining: true,
  });
}
