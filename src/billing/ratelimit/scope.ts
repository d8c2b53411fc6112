// A rate limiter bound to one kind of caller: API keys or client IPs. Each scope has its own key
// prefix (so a key id can never collide with an address), its own default policy and its own policy
// name for the RateLimit headers. A scope is itself a RateLimiter (same interface, prefixed keys).
import { defaultIpPolicy, defaultKeyPolicy, resolvePolicy } from "./policy";
import { ipBucketId } from "./ip";
import type { RateDecision, RateLimiter, RatePolicy } from "./types";

export interface Admission {
  decision: RateDecision;
  /** The policy actually applied (default merged with any override). */
  policy: RatePolicy;
  /** Policy name for the RateLimit / RateLimit-Policy headers. */
  policyName: string;
}

export interface ScopeOptions {
  prefix: string;
  policyName: string;
  defaultPolicy: RatePolicy;
}

export class ScopedRateLimiter implements RateLimiter {
  constructor(
    private readonly inner: RateLimiter,
    readonly options: ScopeOptions,
  ) {}

  take(key: string, policy: RatePolicy, cost = 1): Promise<RateDecision> {
    return this.inner.take(this.options.prefix + key, policy, cost);
  }

  /** Take under the scope's default policy, or under `override` (e.g. a key's stored settings). */
  async admit(id: string, override?: Partial<RatePolicy>, cost = 1): Promise<Admission> {
    const policy = resolvePolicy(override, this.options.defaultPolicy);
    const decision = await this.take(id, policy, cost);
    return { decision, policy, policyName: this.options.policyName };
  }
}

/**
 * Per API key: pass a stable key id (e.g. the key's hash or database id), never the secret itself,
 * because bucket names are visible in Redis.
 */
export function apiKeyRateLimiter(inner: RateLimiter, defaultPolicy: RatePolicy = defaultKeyPolicy): ScopedRateLimiter {
  return new ScopedRateLimiter(inner, { prefix: "key:", policyName: "per-key", defaultPolicy });
}

/** Per client IP for endpoints that answer without a key (healthz, status, model catalog). */
export class IpRateLimiter extends ScopedRateLimiter {
  constructor(inner: RateLimiter, defaultPolicy: RatePolicy = defaultIpPolicy) {
    super(inner, { prefix: "ip:", policyName: "per-ip", defaultPolicy });
  }

  /** `peer` is the raw caller address (CallContext.peer); IPv6 callers share a /64 bucket. */
  admitPeer(peer: string, cost = 1): Promise<Admission> {
    return this.admit(ipBucketId(peer), undefined, cost);
  }
}
