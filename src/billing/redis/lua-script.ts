// The one Lua-script helper (balance store and rate limiter alike). EVALSHA first: the SHA is computed
// locally, so the common path sends 40 bytes instead of the script. When the server answers NOSCRIPT
// (restart, SCRIPT FLUSH, failover to a replica) the call is retried with EVAL, which runs the source
// and caches it, so the next EVALSHA succeeds again.
//
// Why EVAL rather than SCRIPT LOAD + EVALSHA: recovery is one round trip instead of two, and there is
// no window between the load and the call in which another flush would make the retry fail too. The
// script never ran on NOSCRIPT, so retrying it (either way) runs it exactly once.
import { createHash } from "node:crypto";
import type { RedisClient } from "./connection";

export class LuaScript {
  readonly sha1: string;

  constructor(
    /** For logs and benchmarks; Redis only sees the source. */
    readonly name: string,
    readonly source: string,
  ) {
    this.sha1 = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: RedisClient, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha1, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith("NOSCRIPT"))) throw err;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
