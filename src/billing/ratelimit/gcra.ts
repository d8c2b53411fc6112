// GCRA (generic cell rate algorithm): a token bucket stored as ONE number per key, the "theoretical
// arrival time" (TAT) at which the bucket would be full again. No background refill, no float token
// counts, and a denied request writes nothing. The Redis Lua script (redis-script.ts) is a line-by-line
// port of `gcraStep`; the shared conformance suite keeps the two in step.
//
// All arithmetic is in integer microseconds so that Lua (doubles) and JS agree exactly: epoch µs are
// ~1.7e15, well inside 2^53.
import { assert } from "../../core/assert";
import type { RatePolicy } from "./types";

export interface GcraParams {
  /** Time for one token to refill, rounded UP to a whole µs (never grants more than the policy). */
  intervalUs: number;
  burst: number;
}

export function gcraParams(policy: RatePolicy): GcraParams {
  assert(Number.isFinite(policy.ratePerS) && policy.ratePerS > 0, `ratePerS must be > 0, got ${policy.ratePerS}`);
  assert(Number.isSafeInteger(policy.burst) && policy.burst >= 1, `burst must be an integer >= 1, got ${policy.burst}`);
  const intervalUs = Math.ceil(1_000_000 / policy.ratePerS);
  assert(Number.isSafeInteger(intervalUs * policy.burst), "policy window overflows");
  return { intervalUs, burst: policy.burst };
}

export function assertCost(cost: number, params: GcraParams): void {
  assert(Number.isSafeInteger(cost) && cost >= 0 && cost <= params.burst, `cost must be an integer in [0, ${params.burst}], got ${cost}`);
}

export interface GcraStep {
  allowed: boolean;
  /** The TAT to store when allowed (unchanged state when denied). */
  tatUs: number;
  remaining: number;
  retryAfterUs: number;
  resetUs: number;
}

/** One take at `nowUs`. `storedTatUs` is undefined for a fresh (or expired) key. */
export function gcraStep(storedTatUs: number | undefined, nowUs: number, params: GcraParams, cost: number): GcraStep {
  const { intervalUs, burst } = params;
  const windowUs = burst * intervalUs; // time to refill an empty bucket completely
  const tatUs = Math.max(storedTatUs ?? nowUs, nowUs);
  const newTatUs = tatUs + cost * intervalUs;
  const allowAtUs = newTatUs - windowUs;
  if (nowUs < allowAtUs) {
    return {
      allowed: false,
      tatUs,
      remaining: Math.floor((nowUs + windowUs - tatUs) / intervalUs),
      retryAfterUs: allowAtUs - nowUs,
      resetUs: tatUs - nowUs,
    };
  }
  return {
    allowed: true,
    tatUs: newTatUs,
    remaining: Math.floor((nowUs + windowUs - newTatUs) / intervalUs),
    retryAfterUs: 0,
    resetUs: newTatUs - nowUs,
  };
}

/** µs → whole ms, rounded up so that waiting `retryAfterMs` is always enough. */
export const usToMsCeil = (us: number): number => Math.ceil(us / 1000);
