// The one Redis factory: the only place the project constructs ioredis connections (balance store and
// rate limiter alike; test/repo/imports.test.ts holds it). By default commands fail fast while
// disconnected instead of queueing: a money call that cannot reach Redis must answer "unavailable,
// nothing happened" at once, not hang for seconds.
import Redis from "ioredis";

export type RedisClient = Redis;

export interface CreateRedisOptions {
  /** Shown in CLIENT LIST. */
  connectionName?: string;
  /** Reject commands while disconnected (default) rather than queue them until reconnect. */
  failFast?: boolean;
  /** Batch concurrent commands into fewer writes (many small independent calls share one socket). */
  autoPipelining?: boolean;
}

export function createRedis(url: string, options: CreateRedisOptions = {}): RedisClient {
  const failFast = options.failFast ?? true;
  const redis = new Redis(url, {
    connectionName: options.connectionName ?? "dream-engine:billing",
    lazyConnect: true,
    enableOfflineQueue: !failFast,
    maxRetriesPerRequest: failFast ? 0 : 1,
    connectTimeout: 2_000,
    enableAutoPipelining: options.autoPipelining ?? false,
    // Keep reconnecting, quickly: a restarted Redis should be back in use within a second.
    retryStrategy: (times) => Math.min(50 * times, 500),
  });
  // Connection errors surface on the commands that hit them; an unhandled 'error' event would crash.
  redis.on("error", () => undefined);
  return redis;
}

/** The rate limiter's settings: its check sits on every request, with different trade-offs from money calls. */
export const rateLimitRedisOptions: CreateRedisOptions = {
  connectionName: "dream-engine:ratelimit",
  // One retry, then fail fast, rather than queueing the request behind ioredis' default 20 reconnect
  // attempts. Commands issued before the lazy connect completes wait for it (the offline queue stays;
  // the limiter itself refuses at once while the connection is known to be gone).
  failFast: false,
  // Many concurrent takes share one socket; auto-pipelining batches them into fewer writes.
  autoPipelining: true,
};

/** Connects (lazyConnect) and waits until the client is ready; rejects if the first connect fails. */
export async function connectRedis(redis: RedisClient): Promise<void> {
  if (redis.status === "ready") return;
  await redis.connect();
}

/** The server's run id: it changes on every restart, which is how a restart is told from a blip. */
export async function serverRunId(redis: RedisClient): Promise<string> {
  const info = await redis.info("server");
  const m = /run_id:([0-9a-f]+)/.exec(info);
  if (!m) throw new Error("INFO server has no run_id");
  return m[1]!;
}

/**
 * A reply from the Redis server itself (ReplyError: a script or command bug, to surface as it is), as
 * opposed to any other failure of a command, which means Redis could not be reached.
 */
export function isServerReply(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === "ReplyError";
}
