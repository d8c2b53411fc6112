// A Lua script run by SHA: EVALSHA first (sends 40 bytes instead of the script), EVAL when the server
// answers NOSCRIPT because its script cache was lost (restart, SCRIPT FLUSH, failover to a replica).
// EVAL also caches the script, so the next EVALSHA succeeds again.
import { createHash } from "node:crypto";
import type { RedisClient } from "./redis";

export class LuaScript {
  readonly sha1: string;

  constructor(readonly source: string) {
    this.sha1 = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: RedisClient, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha1, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith("NOSCRIPT"))) throw err;
      return await redis.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
