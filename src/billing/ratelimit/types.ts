// The rate-limiter contract shared by the Redis and the in-process implementations. Both pass one
// conformance suite (test/ratelimit/conformance.test.ts), so callers never care which one they hold.

/** A token bucket: `burst` requests at once, refilled at `ratePerS` requests per second. */
export interface RatePolicy {
  ratePerS: number;
  burst: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Whole requests (cost units) that could still pass right now, after this take if it was allowed. */
  remaining: number;
  /** 0 when allowed; otherwise how long until this same take would pass (rounded up to a whole ms). */
  retryAfterMs: number;
  /** How long until the bucket is full again (rounded up to a whole ms); 0 for an untouched key. */
  resetMs: number;
}

export interface RateLimiter {
  /**
   * Take `cost` units from the bucket named `key` under `policy`. A denied take consumes nothing.
   * `cost` must be an integer in [0, policy.burst]: a cost above the burst could never pass.
   * Rejects (throws) only on backend failure; the caller decides whether to fail open or closed.
   */
  take(key: string, policy: RatePolicy, cost?: number): Promise<RateDecision>;
}

/**
 * The limiter's backend (Redis) could not be reached, so no decision was made. Callers fail closed
 * with it (UNAVAILABLE + a retry hint): admitting unmetered traffic during an outage would let one key
 * flood a server that has also lost its balance store.
 */
export class RateLimiterUnavailableError extends Error {
  override name = "RateLimiterUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
