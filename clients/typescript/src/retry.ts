// When a failed call is sent again, and after how long. The rules (README "Retries"):
//  - only gRPC UNAVAILABLE and RESOURCE_EXHAUSTED are candidates;
//  - with the server's ErrorInfo, only a reason errorTable marks retryable (src/wire/retryable-reasons,
//    generated from it): RATE_LIMITED and UNAVAILABLE here, which the server sends only before any work
//    (rate limit, queue full, draining, a billing store unreachable at admission), so a predict is safe
//    to resend; STREAM_STALLED, MODEL_UNAVAILABLE and PAYLOAD_TOO_LARGE share those codes but are not;
//  - without an ErrorInfo (grpc-js's own UNAVAILABLE: no connection, or one lost mid-call) a read is
//    resent, but a predict only when it carries a requestId: the server holds and settles money once
//    per request id, so the retry is not charged twice; without one nothing tells whether it ran.
// Delays grow exponentially from the base with "equal jitter" (half fixed, half random, as the Python
// SDK does) up to the cap; a server RetryInfo is a floor, and one longer than retryAfterMsMax is not
// waited out: the error surfaces at once with retryAfterMs set.
import * as grpc from "@grpc/grpc-js";
import { RETRYABLE_REASONS } from "../../../src/wire/retryable-reasons";
import type { DreamError } from "./errors";

export interface RetryPolicy {
  /** Retries after the first attempt; 0 turns retrying off. */
  retries: number;
  /** The first retry's delay before jitter; each further retry doubles it. */
  backoffMs: number;
  backoffMsMax: number;
  /** A server-requested delay above this is not waited out. */
  retryAfterMsMax: number;
}

/** More than this many retries is a misconfiguration (minutes of hammering a server that said no). */
export const RETRIES_MAX = 10;

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 2, backoffMs: 250, backoffMsMax: 4000, retryAfterMsMax: 60_000 };

export function checkedPolicy(p: RetryPolicy): RetryPolicy {
  if (!Number.isInteger(p.retries) || p.retries < 0 || p.retries > RETRIES_MAX) throw new RangeError(`retries must be an integer in [0, ${RETRIES_MAX}], got ${p.retries}`);
  for (const [name, v] of [["retryBackoffMs", p.backoffMs], ["retryBackoffMsMax", p.backoffMsMax], ["retryAfterMsMax", p.retryAfterMsMax]] as const) {
    if (!Number.isFinite(v) || v < 0) throw new RangeError(`${name} must be a non-negative number, got ${v}`);
  }
  return p;
}

/** What a call is, for the retry rules: a read changes nothing; a predict may be charged. */
export type CallKind = "read" | { predict: { requestId: string } };

export function isRetryable(err: DreamError, kind: CallKind): boolean {
  if (err.code !== grpc.status.UNAVAILABLE && err.code !== grpc.status.RESOURCE_EXHAUSTED) return false;
  if (err.fromServer) return RETRYABLE_REASONS.has(err.reason);
  // grpc-js's RESOURCE_EXHAUSTED is a local message-size limit: the same request fails the same way.
  if (err.code !== grpc.status.UNAVAILABLE) return false;
  return kind === "read" || kind.predict.requestId !== "";
}

/**
 * The delay before retry number `retry` (1 = the first), or undefined when the server asked for
 * longer than the policy waits.
 */
export function backoffMs(retry: number, policy: RetryPolicy, err: DreamError, random: () => number = Math.random): number | undefined {
  if (err.retryAfterMs !== undefined && err.retryAfterMs > policy.retryAfterMsMax) return undefined;
  const capped = Math.min(policy.backoffMsMax, policy.backoffMs * 2 ** Math.max(0, retry - 1));
  const jittered = capped / 2 + random() * (capped / 2);
  return Math.max(jittered, err.retryAfterMs ?? 0);
}
