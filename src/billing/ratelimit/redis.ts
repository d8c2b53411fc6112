// The rate limiter's own ioredis connection (the only place ioredis is constructed for rate limiting).
// The integrator may later share one connection with the balance store; RedisRateLimiter takes any
// client, so that is a one-line change in main.ts.
import Redis from "ioredis";

export type RedisClient = Redis;

export interface RedisConnectOptions {
  /** Shown in CLIENT LIST, which helps when several subsystems share one Redis. */
  connectionName?: string;
}

export function connectRedis(url: string, options: RedisConnectOptions = {}): RedisClient {
  return new Redis(url, {
    connectionName: options.connectionName ?? "dream-engine:ratelimit",
    // A rate-limit check sits on every request: fail fast when Redis is down instead of queueing the
    // request behind ioredis' default 20 reconnect attempts.
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    // Many concurrent takes share one socket; auto-pipelining batches them into fewer writes.
    enableAutoPipelining: true,
  });
}
