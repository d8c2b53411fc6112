// Redis-backed rate limiter: one script call per take (billing/redis's LuaScript: EVALSHA, EVAL on
// NOSCRIPT). The connection comes from billing/redis's factory (rateLimitRedisOptions).
import type { Clock } from "../../core/clock";
import { assertCost, gcraParams, usToMsCeil } from "./gcra";
import { isServerReply, type RedisClient } from "../redis/connection";
import { LuaScript } from "../redis/lua-script";
import { GCRA_TAKE_LUA } from "./redis-script";
import { RateLimiterUnavailableError, type RateDecision, type RateLimiter, type RatePolicy } from "./types";

export interface RedisRateLimiterOptions {
  redis: RedisClient;
  /** Namespace for bucket keys; one Redis can serve several deployments or test runs. */
  keyPrefix?: string;
  /**
   * Tests only: take "now" from this clock (its wallMs, as epoch µs) instead of Redis TIME.
   * Production leaves it unset so that every app server uses the Redis server's clock.
   */
  clock?: Clock;
}

export const redisKeyPrefixDefault = "dream:rl:";

const gcraTake = new LuaScript("gcra-take", GCRA_TAKE_LUA);

/**
 * Client states in which the connection is known to be gone: a command would only wait in the offline
 * queue until ioredis gives up (MaxRetriesPerRequestError, ~1 s), so it fails at once instead.
 * "wait" (lazy, never connected) and "connecting" still queue: the connection may be moments away.
 */
const DISCONNECTED = new Set(["reconnecting", "close", "end"]);

/** Server replies (ReplyError: a script bug) stay as they are; anything else means Redis was unreachable. */
function unreachable(err: unknown): unknown {
  if (isServerReply(err)) return err;
  return new RateLimiterUnavailableError(`rate limiter store unreachable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

export class RedisRateLimiter implements RateLimiter {
  private readonly redis: RedisClient;
  private readonly keyPrefix: string;
  private readonly clock: Clock | undefined;

  constructor(options: RedisRateLimiterOptions) {
    this.redis = options.redis;
    this.keyPrefix = options.keyPrefix ?? redisKeyPrefixDefault;
    this.clock = options.clock;
  }

  async take(key: string, policy: RatePolicy, cost = 1): Promise<RateDecision> {
    const params = gcraParams(policy);
    assertCost(cost, params);
    const nowArg = this.clock === undefined ? "" : String(this.clock.wallMs() * 1000);
    const args = [String(params.intervalUs), String(params.burst), String(cost), nowArg];
    if (DISCONNECTED.has(this.redis.status)) throw new RateLimiterUnavailableError(`rate limiter store unreachable (connection ${this.redis.status})`);
    let reply: [number, number, number, number];
    try {
      reply = (await gcraTake.run(this.redis, [this.keyPrefix + key], args)) as [number, number, number, number];
    } catch (err) {
      throw unreachable(err);
    }
    const [allowed, remaining, retryAfterUs, resetUs] = reply;
    return {
      allowed: allowed === 1,
      remaining,
      retryAfterMs: usToMsCeil(retryAfterUs),
      resetMs: usToMsCeil(resetUs),
    };
  }

  /** "ok", or why the limiter cannot decide right now (readiness checks; never waits on a dead connection). */
  async check(): Promise<string> {
    if (DISCONNECTED.has(this.redis.status)) return `rate limiter store unreachable (connection ${this.redis.status})`;
    return this.redis.ping().then(
      () => "ok",
      (err: unknown) => `rate limiter store unreachable: ${err instanceof Error ? err.message : String(err)}`,
    );
  }

  /** The Redis key a limiter key is stored under (for tests and operators). */
  redisKey(key: string): string {
    return this.keyPrefix + key;
  }
}
