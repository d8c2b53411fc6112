// Redis-backed rate limiter: one script call per take (EVALSHA with EVAL fallback, see lua-script.ts).
import type { Clock } from "../../core/clock";
import { assertCost, gcraParams, usToMsCeil } from "./gcra";
import type { RedisClient } from "./redis";
import { LuaScript } from "./lua-script";
import { GCRA_TAKE_LUA } from "./redis-script";
import type { RateDecision, RateLimiter, RatePolicy } from "./types";

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

const gcraTake = new LuaScript(GCRA_TAKE_LUA);

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
    const reply = (await gcraTake.run(this.redis, [this.keyPrefix + key], args)) as [number, number, number, number];
    const [allowed, remaining, retryAfterUs, resetUs] = reply;
    return {
      allowed: allowed === 1,
      remaining,
      retryAfterMs: usToMsCeil(retryAfterUs),
      resetMs: usToMsCeil(resetUs),
    };
  }

  /** The Redis key a limiter key is stored under (for tests and operators). */
  redisKey(key: string): string {
    return this.keyPrefix + key;
  }
}
