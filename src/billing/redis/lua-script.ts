// EVALSHA with a NOSCRIPT fallback: the SHA is computed locally, so the common path is one round
// trip; after a Redis restart or SCRIPT FLUSH the script is loaded once and the call retried.
import { createHash } from "node:crypto";
import type { RedisClient } from "./connection";

export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: RedisClient, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      await redis.script("LOAD", this.source);
      return redis.evalsha(this.sha, keys.length, ...keys, ...args);
    }
  }
}
