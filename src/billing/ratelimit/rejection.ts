// A denied take as the shared error vocabulary: 429 over HTTP, RESOURCE_EXHAUSTED (+ RetryInfo) over gRPC;
// a take that could not be decided (store unreachable) as 503 UNAVAILABLE (+ Retry-After / RetryInfo).
import { ServiceError } from "../../core/errors";
import { retryAfterSeconds } from "./headers";
import type { Admission } from "./scope";

export function rateLimitedError(admission: Admission): ServiceError {
  const { decision, policy, policyName } = admission;
  const retryAfterS = retryAfterSeconds(decision.retryAfterMs);
  return new ServiceError(
    "RATE_LIMITED",
    `rate limit exceeded (${policyName}: ${policy.ratePerS} requests/s, burst ${policy.burst}); retry after ${retryAfterS} s`,
    {
      policy: policyName,
      rate_per_s: policy.ratePerS,
      burst: policy.burst,
      retry_after_ms: decision.retryAfterMs,
    },
    retryAfterS,
  );
}

/** Seconds to suggest while the limiter's store is down: its client reconnects every ≤ 0.5 s. */
export const limiterOutageRetryAfterS = 1;

export function limiterUnavailableError(): ServiceError {
  return new ServiceError(
    "UNAVAILABLE",
    `the rate limiter's store is unreachable; nothing was done, retry after ${limiterOutageRetryAfterS} s`,
    { component: "rate_limiter" },
    limiterOutageRetryAfterS,
  );
}
