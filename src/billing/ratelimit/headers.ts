// HTTP header values for rate limiting, following draft-ietf-httpapi-ratelimit-headers-11
// (May 2026; the field syntax is unchanged since -09): two Structured-Field Lists,
//   RateLimit-Policy: "per-key";q=200;w=4
//   RateLimit: "per-key";r=137;t=2
// plus Retry-After (RFC 9110 delay-seconds) on a 429.
//
// Mapping a token bucket onto quota/window: q is the burst and w the time an empty bucket takes to
// refill completely (burst / rate, rounded up to whole seconds as the draft allows no fractions), so
// q/w is the sustained rate: 200 per 4 s = 50/s. In RateLimit, r is the whole tokens left and t the
// seconds until the bucket is full again; on a denial t equals Retry-After, because the draft says
// Retry-After should not point earlier than the end of the effective window.
import { assert } from "../../core/assert";
import type { Admission } from "./scope";
import type { RateDecision, RatePolicy } from "./types";

export const RATELIMIT_HEADERS_DRAFT = "draft-ietf-httpapi-ratelimit-headers-11";

/** sf-string: printable ASCII with `"` and `\` escaped. Policy names are ours, so anything else is a bug. */
function sfString(value: string): string {
  assert(/^[\x20-\x7e]*$/.test(value), `policy name must be printable ASCII, got ${JSON.stringify(value)}`);
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export function policyWindowS(policy: RatePolicy): number {
  return Math.max(1, Math.ceil(policy.burst / policy.ratePerS));
}

export function rateLimitPolicyHeader(policyName: string, policy: RatePolicy): string {
  return `${sfString(policyName)};q=${policy.burst};w=${policyWindowS(policy)}`;
}

/** Whole seconds for Retry-After: rounded up (never early) and at least 1 (0 would invite a hot loop). */
export function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000));
}

export function rateLimitHeader(policyName: string, decision: RateDecision): string {
  const t = decision.allowed ? Math.ceil(decision.resetMs / 1000) : retryAfterSeconds(decision.retryAfterMs);
  return `${sfString(policyName)};r=${Math.max(0, decision.remaining)};t=${t}`;
}

/** Every header for a response; Retry-After only on a denial. Names are lower-case (HTTP/2, gRPC metadata). */
export function rateLimitHeaders(admission: Admission): Record<string, string> {
  const headers: Record<string, string> = {
    "ratelimit-policy": rateLimitPolicyHeader(admission.policyName, admission.policy),
    ratelimit: rateLimitHeader(admission.policyName, admission.decision),
  };
  if (!admission.decision.allowed) headers["retry-after"] = String(retryAfterSeconds(admission.decision.retryAfterMs));
  return headers;
}
