// REDIS_URL=redis+cluster://[user:password@]host:port[,host:port...] selects a Redis Cluster: the
// nodes listed are only seeds (the client learns every master and replica from CLUSTER SLOTS), so one
// reachable node is enough, and several survive one of them being down at start. The same variable
// as a standalone Redis, so nothing else in the configuration changes when a deployment moves.
//
// A malformed value throws at once, naming the variable: a typo must stop the server at start, not
// surface as "unavailable" on the first paid request.

export const CLUSTER_SCHEME = "redis+cluster:";
/** Seeds are a handful of nodes, never the whole cluster; more is a pasted mistake. */
const CLUSTER_SEEDS_MAX = 64;

export interface ClusterSeeds {
  nodes: { host: string; port: number }[];
  username?: string;
  password?: string;
}

export class RedisUrlError extends Error {
  override name = "RedisUrlError";
}

export function isClusterUrl(url: string): boolean {
  return url.trim().toLowerCase().startsWith(`${CLUSTER_SCHEME}//`);
}

function fail(url: string, why: string): never {
  // The password is never echoed back into logs.
  const shown = url.replace(/\/\/[^@/]*@/, "//***@");
  throw new RedisUrlError(`REDIS_URL must be redis+cluster://[user:password@]host:port[,host:port...] (${why}), got ${JSON.stringify(shown)}`);
}

export function parseClusterUrl(url: string): ClusterSeeds {
  if (!isClusterUrl(url)) fail(url, "not a redis+cluster:// URL");
  const rest = url.trim().slice(`${CLUSTER_SCHEME}//`.length);
  const at = rest.lastIndexOf("@");
  const auth = at >= 0 ? rest.slice(0, at) : undefined;
  const hosts = (at >= 0 ? rest.slice(at + 1) : rest).replace(/\/$/, "");
  if (hosts.includes("/") || hosts.includes("?")) fail(url, "no database number or options: a cluster has database 0 only");
  const parts = hosts.split(",");
  if (parts.length > CLUSTER_SEEDS_MAX) fail(url, `at most ${CLUSTER_SEEDS_MAX} seed nodes`);
  const nodes = parts.map((part) => {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/.exec(part.trim());
    if (!m) fail(url, `each node is host:port, got ${JSON.stringify(part)}`);
    const port = Number(m[2]);
    if (port < 1 || port > 65_535) fail(url, `port out of range in ${JSON.stringify(part)}`);
    return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
  });
  if (auth === undefined) return { nodes };
  const colon = auth.indexOf(":");
  const username = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : "");
  const password = decodeURIComponent(colon >= 0 ? auth.slice(colon + 1) : auth);
  return { nodes, ...(username ? { username } : {}), ...(password ? { password } : {}) };
}
