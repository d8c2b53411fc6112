// Default policies and policy validation. The per-key default (50 req/s, burst 200) is the documented
// "fresh key" limit in docs/API.md; per-key overrides come from the key store and are passed in.
import { invalidArgument } from "../../core/errors";
import type { RatePolicy } from "./types";

/** Documented limit for a fresh API key. */
export const defaultKeyPolicy: RatePolicy = Object.freeze({ ratePerS: 50, burst: 200 });

/**
 * Health/status/model-catalog endpoints answer without a key, so they are bounded per client IP.
 * Generous for monitoring (a probe every 100 ms is 10/s), far below what would load the server.
 */
export const defaultIpPolicy: RatePolicy = Object.freeze({ ratePerS: 20, burst: 100 });

// Bounds on configurable policies. They live here rather than in core/limits.ts only because this
// module was built in parallel with core; the integrator may move them.
export const ratePerSMax = 1_000_000; // keeps the emission interval >= 1 µs
export const ratePerSMin = 0.001; // one request per ~17 min; anything slower is a ban, not a limit
export const burstMax = 1_000_000;

/**
 * Checks a policy an operator typed (CLI, key store). Returns it frozen; throws INVALID_ARGUMENT naming
 * the field with expected vs given, so `keys create --rate-per-s 0` fails at write time, not per request.
 */
export function validatePolicy(policy: RatePolicy): RatePolicy {
  const { ratePerS, burst } = policy;
  if (typeof ratePerS !== "number" || !Number.isFinite(ratePerS) || ratePerS < ratePerSMin || ratePerS > ratePerSMax) {
    throw invalidArgument("rate_per_s", `expected a number in [${ratePerSMin}, ${ratePerSMax}], got ${String(ratePerS)}`, {
      expected: `${ratePerSMin}..${ratePerSMax}`,
      given: String(ratePerS),
    });
  }
  if (typeof burst !== "number" || !Number.isSafeInteger(burst) || burst < 1 || burst > burstMax) {
    throw invalidArgument("burst", `expected an integer in [1, ${burstMax}], got ${String(burst)}`, {
      expected: `1..${burstMax}`,
      given: String(burst),
    });
  }
  return Object.freeze({ ratePerS, burst });
}

/** A stored override may set either field; the other comes from the default. */
export function resolvePolicy(override: Partial<RatePolicy> | undefined, fallback: RatePolicy = defaultKeyPolicy): RatePolicy {
  if (override === undefined) return fallback;
  return validatePolicy({ ratePerS: override.ratePerS ?? fallback.ratePerS, burst: override.burst ?? fallback.burst });
}
