// In-process rate limiter for embedded defaults (one server, no Redis). Same GCRA math as the Lua
// script; time comes from the injected Clock so tests move it by hand.
import type { Clock } from "../../core/clock";
import { assertCost, gcraParams, gcraStep, usToMsCeil } from "./gcra";
import type { RateDecision, RateLimiter, RatePolicy } from "./types";

export interface InMemoryRateLimiterOptions {
  clock: Clock;
  /**
   * Bound on tracked keys (limits on everything: a flood of distinct IPs must not grow memory forever).
   * When full, keys whose bucket is already full again are dropped (they are identical to fresh keys);
   * if that frees too little, the least recently used keys are dropped, which resets their buckets
   * (fails open for those keys rather than growing without bound).
   */
  keysMax?: number;
}

export const inMemoryKeysMaxDefault = 100_000;

export class InMemoryRateLimiter implements RateLimiter {
  private readonly clock: Clock;
  private readonly keysMax: number;
  /** key → TAT in the clock's µs; Map order doubles as least-recently-used order. */
  private readonly tatUsByKey = new Map<string, number>();

  constructor(options: InMemoryRateLimiterOptions) {
    this.clock = options.clock;
    this.keysMax = options.keysMax ?? inMemoryKeysMaxDefault;
  }

  async take(key: string, policy: RatePolicy, cost = 1): Promise<RateDecision> {
    const params = gcraParams(policy);
    assertCost(cost, params);
    const nowUs = this.clock.nowUs();
    const step = gcraStep(this.tatUsByKey.get(key), nowUs, params, cost);
    if (step.allowed && step.tatUs > nowUs) {
      this.tatUsByKey.delete(key); // re-insert to mark most recently used
      this.makeRoom(nowUs);
      this.tatUsByKey.set(key, step.tatUs);
    }
    return {
      allowed: step.allowed,
      remaining: step.remaining,
      retryAfterMs: usToMsCeil(step.retryAfterUs),
      resetMs: usToMsCeil(step.resetUs),
    };
  }

  /** Number of keys currently tracked (for tests and metrics). */
  get size(): number {
    return this.tatUsByKey.size;
  }

  /**
   * Runs only when the map is full, and always leaves at least 10% free, so a flood of distinct keys
   * costs O(1) amortised per take rather than a full sweep on every insert.
   */
  private makeRoom(nowUs: number): void {
    if (this.tatUsByKey.size < this.keysMax) return;
    for (const [key, tatUs] of this.tatUsByKey) {
      if (tatUs <= nowUs) this.tatUsByKey.delete(key);
    }
    const target = Math.floor(this.keysMax * 0.9);
    for (const key of this.tatUsByKey.keys()) {
      if (this.tatUsByKey.size <= target) break;
      this.tatUsByKey.delete(key);
    }
  }
}
