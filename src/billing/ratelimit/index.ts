// Public surface of the rate limiter. ioredis is imported only under this folder (redis.ts) for now.
export { RateLimiterUnavailableError, type RateDecision, type RateLimiter, type RatePolicy } from "./types";
export { defaultIpPolicy, defaultKeyPolicy, resolvePolicy, validatePolicy } from "./policy";
export { InMemoryRateLimiter, type InMemoryRateLimiterOptions } from "./memory";
export { RedisRateLimiter, type RedisRateLimiterOptions } from "./redis-limiter";
export { connectRedis, type RedisClient } from "./redis";
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
