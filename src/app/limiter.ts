// src/billing/ratelimit → the service's RateLimitPort: a denied take becomes RATE_LIMITED (429 /
// RESOURCE_EXHAUSTED + RetryInfo); an allowed one yields the RateLimit headers to send back.
import { apiKeyRateLimiter, IpRateLimiter, rateLimitedError, rateLimitHeaders, type Admission, type RateLimiter } from "../billing/ratelimit";
import type { RateLimitPort } from "../service/ports";

export function rateLimitPort(inner: RateLimiter, onReject: (scope: "key" | "ip") => void = () => undefined): RateLimitPort {
  const verdict = (admission: Admission, scope: "key" | "ip"): Record<string, string> => {
    if (admission.decision.allowed) return rateLimitHeaders(admission);
    onReject(scope);
    throw rateLimitedError(admission);
  };
  const keys = apiKeyRateLimiter(inner);
  const ips = new IpRateLimiter(inner);
  return {
    takeKey: async (keyId, policy) => verdict(await keys.admit(keyId, policy), "key"),
    takePeer: async (peer) => verdict(await ips.admitPeer(peer), "ip"),
  };
}
