// src/billing/ratelimit → the service's RateLimitPort: a denied take becomes RATE_LIMITED (429 /
// RESOURCE_EXHAUSTED + RetryInfo); an allowed one yields the RateLimit headers to send back, and a denied
// one carries them on its error (ServiceError.headers: HTTP headers on REST, trailers on gRPC). A take
// the store could not decide (Redis down) fails closed as UNAVAILABLE (503 + Retry-After / RetryInfo),
// per key and per peer alike.
import {
  apiKeyRateLimiter,
  defaultIpPolicy,
  IpRateLimiter,
  limiterUnavailableError,
  RateLimiterUnavailableError,
  rateLimitedError,
  rateLimitHeaders,
  type Admission,
  type RateLimiter,
  type RatePolicy,
  validatePolicy,
} from "../billing/ratelimit";
import type { RateLimitPort } from "../service/ports";

export function rateLimitPort(inner: RateLimiter, onReject: (scope: "key" | "ip") => void = () => undefined, ipPolicy: RatePolicy = defaultIpPolicy): RateLimitPort {
  const verdict = (admission: Admission, scope: "key" | "ip"): Record<string, string> => {
    if (admission.decision.allowed) return rateLimitHeaders(admission);
    onReject(scope);
    // The 429 carries RateLimit / RateLimit-Policy (and Retry-After) like every admitted response does.
    throw rateLimitedError(admission).withHeaders(rateLimitHeaders(admission));
  };
  const keys = apiKeyRateLimiter(inner);
  const ips = new IpRateLimiter(inner, validatePolicy(ipPolicy));
  return {
    takeKey: async (keyId, policy) => verdict(await decided(keys.admit(keyId, policy)), "key"),
    takePeer: async (peer) => verdict(await decided(ips.admitPeer(peer)), "ip"),
  };
}

async function decided(admission: Promise<Admission>): Promise<Admission> {
  try {
    return await admission;
  } catch (err) {
    if (err instanceof RateLimiterUnavailableError) throw limiterUnavailableError();
    throw err;
  }
}
