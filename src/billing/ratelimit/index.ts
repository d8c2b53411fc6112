// Public surface of the rate limiter. Its Redis connection is built by billing/redis's one factory
// (createRedis with rateLimitRedisOptions); nothing here imports ioredis.
export { RateLimiterUnavailableError, type RateDecision, type RateLimiter, type RatePolicy } from "./types";
export { defaultIpPolicy, defaultKeyPolicy, resolvePolicy, validatePolicy } from "./policy";
export { InMemoryRateLimiter, type InMemoryRateLimiterOptions } from "./memory";
export { RedisRateLimiter, type RedisRateLimiterOptions } from "./redis-limiter";
export { apiKeyRateLimiter, IpRateLimiter, ScopedRateLimiter, type Admission } from "./scope";
export { ipBucketId } from "./ip";
export {
  RATELIMIT_HEADERS_DRAFT,
  rateLimitHeader,
  rateLimitHeaders,
  rateLimitPolicyHeader,
  retryAfterSeconds,
} from "./headers";
export { limiterUnavailableError, rateLimitedError } from "./rejection";
