// The one Redis factory: the only place the project constructs ioredis connections (balance store and
// rate limiter alike; test/repo/imports.test.ts holds it). By default commands fail fast while
// disconnected instead of queueing: a money call that cannot reach Redis must answer "unavailable,
// nothing happened" at once, not hang for seconds. REDIS_URL=redis+cluster://... gives a Redis Cluster
// client instead (cluster-url.ts); MOVED/ASK redirections and failovers are ioredis' job.
import Redis, { Cluster } from "ioredis";
import { isClusterUrl, parseClusterUrl } from "./cluster-url";

export type RedisClient = Redis | Cluster;

export interface CreateRedisOptions {
  /** Shown in CLIENT LIST. */
  connectionName?: string;
  /** Reject commands while disconnected (default) rather than queue them until reconnect. */
  failFast?: boolean;
  /** Batch concurrent commands into fewer writes (many small independent calls share one socket). */
  autoPipelining?: boolean;
}

export function createRedis(url: string, options: CreateRedisOptions = {}): RedisClient {
  if (isClusterUrl(url)) return createCluster(url, options);
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

function createCluster(url: string, options: CreateRedisOptions): Cluster {
  const seeds = parseClusterUrl(url);
  const failFast = options.failFast ?? true;
  const cluster = new Cluster(seeds.nodes, {
    lazyConnect: true,
    // Fail fast as above: a command for a slot whose master is down is refused at once.
    enableOfflineQueue: !failFast,
    enableAutoPipelining: options.autoPipelining ?? false,
    // Masters only (the default, stated): a replica may lag, and a money decision must read what it writes.
    scaleReads: "master",
    // A command cut off by its node dying is sent again (after a slot refresh) this long later, a few
    // times (maxRedirections); by then the replica may be promoted. Every script is idempotent per
    // request id or seq, so a command that did run before the cut is not applied twice.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    maxRedirections: 8,
    // Learn a promotion even without traffic to the failed slots.
    slotsRefreshInterval: 2_000,
    slotsRefreshTimeout: 1_000,
    clusterRetryStrategy: (times) => Math.min(50 * times, 500),
    redisOptions: {
      connectionName: options.connectionName ?? "dream-engine:billing",
      connectTimeout: 2_000,
      maxRetriesPerRequest: failFast ? 0 : 1,
      ...(seeds.username ? { username: seeds.username } : {}),
      ...(seeds.password ? { password: seeds.password } : {}),
    },
  });
  cluster.on("error", () => undefined);
  return cluster;
}

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis.isCluster;
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
  const e = err as { name?: string; message?: string } | null;
  return e?.name === "ReplyError" && !TRANSIENT_REPLY.test(e.message ?? "");
}

/**
 * Replies that mean "not now", not "your script is wrong": a cluster mid-failover (CLUSTERDOWN,
 * TRYAGAIN, MASTERDOWN), a node loading its data (LOADING), or MOVED/ASK left over after ioredis ran out
 * of redirections. They are unavailability like a closed connection, and nothing ran.
 */
const TRANSIENT_REPLY = /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN|LOADING|MOVED|ASK)\b/;
