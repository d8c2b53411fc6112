// BalanceStore on Redis: every check-and-update is one Lua script (atomic on the server), called by
// EVALSHA. A generation key marks the store as a complete mirror of the ledger; a flush or a restart
// removes it (restarts are also caught by the server's run id changing), and every money script then
// answers NOTREADY until the billing service rebuilds from the ledger.
import { randomUUID } from "node:crypto";
import { AssertionError, assert } from "../../core/assert";
import type { Clock } from "../../core/clock";
import { assertMicros } from "../../core/money";
import {
  STORE_DEFAULTS,
  StoreNotReadyError,
  StoreUnavailableError,
  type BalanceStore,
  type CustomerState,
  type HoldState,
  type HoldView,
  type LedgerMirror,
  type ReserveResult,
  type SettleResult,
  type SettleStatus,
  type SettlementIntent,
} from "../store/balance-store";
import { SettleOps, type SettleOp } from "../store/settle-ops";
import { connectRedis, isCluster, isServerReply, serverRunId, type RedisClient } from "./connection";
import type { LuaScript } from "./lua-script";
import { BALANCE, BEGIN_REBUILD, CREDIT, FINISH_REBUILD, RENEW, RESERVE, RESYNC, SETTLE } from "./scripts";

type Reply = (string | number | null)[];

const SETTLE_STATUS: Record<string, SettleStatus> = {
  APPLIED: "applied",
  ALREADY: "already",
  UNKNOWN: "unknown",
  NOTEXPIRED: "not-expired",
  INCONSISTENT: "inconsistent",
};

function int(v: string | number | null | undefined): number {
  const n = typeof v === "number" ? v : Number(v ?? 0);
  assert(Number.isSafeInteger(n), `expected an integer from Redis, got ${String(v)}`);
  return n;
}

/** Server replies (ReplyError) are bugs to surface; anything else means we could not reach Redis. */
function unavailable(err: unknown): unknown {
  if (err instanceof AssertionError || err instanceof StoreNotReadyError) return err;
  if (isServerReply(err)) return err;
  return new StoreUnavailableError(`balance store unavailable: ${err instanceof Error ? err.message : String(err)}`, err);
}

export interface RedisStoreOptions {
  /** Key prefix; tests use a unique one per run. */
  prefix?: string;
  tombstoneTtlMs?: number;
  creditMarkerTtlMs?: number;
  rebuildLockTtlMs?: number;
}

export class RedisBalanceStore extends SettleOps implements BalanceStore {
  readonly kind = "redis";
  private readonly p: string;
  private readonly opts: typeof STORE_DEFAULTS;
  private readonly lostListeners: (() => void)[] = [];
  private runId: string | undefined;
  private closed = false;

  private constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    options: RedisStoreOptions,
    private readonly ownsConnection: boolean,
  ) {
    super();
    this.p = options.prefix ?? "dre:billing";
    this.opts = { ...STORE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([k]) => k !== "prefix")) };
    redis.on("ready", () => void this.checkRestart());
  }

  /** Connects (if needed) and learns the server's run id. */
  static async open(redis: RedisClient, clock: Clock, options: RedisStoreOptions = {}, ownsConnection = true): Promise<RedisBalanceStore> {
    // This layout's scripts span slots (CROSSSLOT on a cluster): refuse at once, not on the first reserve.
    assert(!isCluster(redis), "RedisBalanceStore needs a standalone Redis; open a cluster through openRedisBalanceStore (open-store.ts)");
    const store = new RedisBalanceStore(redis, clock, options, ownsConnection);
    try {
      await connectRedis(redis);
      store.runId = await serverRunId(redis);
    } catch (err) {
      if (ownsConnection) redis.disconnect();
      throw unavailable(err);
    }
    return store;
  }

  private key(...parts: string[]): string {
    return [this.p, ...parts].join(":");
  }

  /** On every (re)connect: a new run id means the server restarted; its data may be gone or stale. */
  private async checkRestart(): Promise<void> {
    if (this.closed) return;
    try {
      const current = await serverRunId(this.redis);
      const previous = this.runId;
      this.runId = current;
      if (previous === undefined || previous === current) {
        if ((await this.redis.exists(this.key("gen"))) === 1) return;
      } else if ((await this.redis.get(this.key("runid"))) !== current) {
        // Restarted, possibly from an old RDB/AOF: whatever it restored is not trusted.
        await this.redis.del(this.key("gen"));
      }
      for (const listener of this.lostListeners) listener();
    } catch {
      // Disconnected again; the next 'ready' checks once more.
    }
  }

  private async runScalar(script: LuaScript, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await script.run(this.redis, keys, args);
    } catch (err) {
      throw unavailable(err);
    }
  }

  private async run(script: LuaScript, keys: string[], args: (string | number)[]): Promise<Reply> {
    return (await this.runScalar(script, keys, args)) as Reply;
  }

  private notReady(reply: Reply): void {
    if (reply[0] === "NOTREADY") throw new StoreNotReadyError("Redis balance store lost its data (flushed or restarted) and is not rebuilt yet");
  }

  private holdView(requestId: string, r: Reply, from: number): HoldView | null {
    if (r[from] === null || r[from] === undefined) return null;
    return {
      requestId,
      customerId: String(r[from]),
      heldMicros: int(r[from + 1]),
      expiresAtMs: int(r[from + 2]),
      state: r[from + 3] as HoldState,
      capturedMicros: int(r[from + 4]),
      releasedMicros: int(r[from + 5]),
    };
  }

  async reserve(customerId: string, amountMicros: number, requestId: string, ttlMs: number): Promise<ReserveResult> {
    assertMicros(amountMicros);
    assert(amountMicros > 0 && ttlMs > 0, "reserve needs a positive amount and ttl");
    const expiresAtMs = this.clock.wallMs() + ttlMs;
    const r = await this.run(
      RESERVE,
      [this.key("gen"), this.key("c", customerId), this.key("cp", customerId), this.key("h", requestId), this.key("exp"), this.key("customers")],
      [customerId, requestId, amountMicros, expiresAtMs],
    );
    this.notReady(r);
    if (r[0] === "HELD") return { status: "held", availableMicros: int(r[1]), expiresAtMs };
    if (r[0] === "INSUFFICIENT") return { status: "insufficient", availableMicros: int(r[1]) };
    assert(r[0] === "DUPLICATE", `unexpected reserve reply ${String(r[0])}`);
    return { status: "duplicate", availableMicros: int(r[1]), hold: this.holdView(requestId, r, 2)! };
  }

  protected async settle(op: SettleOp, requestId: string, actualMicros: number, mirror: LedgerMirror | undefined): Promise<SettleResult> {
    const r = await this.run(
      SETTLE,
      [this.key("gen"), this.key("h", requestId), this.key("exp")],
      [
        requestId,
        op,
        actualMicros,
        this.clock.wallMs(),
        this.opts.tombstoneTtlMs,
        mirror ? "1" : "0",
        mirror?.customerId ?? "",
        mirror?.heldMicros ?? 0,
        mirror?.holdSeq ?? 0,
        mirror?.settleSeq ?? 0,
        this.p,
      ],
    );
    this.notReady(r);
    if (r[0] === "OVERCAPTURE") throw new AssertionError(`cannot capture ${actualMicros} micros from hold ${requestId} (${String(r[2] ?? mirror?.heldMicros)} held)`);
    const status = SETTLE_STATUS[String(r[0])];
    assert(status !== undefined, `unexpected settle reply ${String(r[0])}`);
    return { status, hold: this.holdView(requestId, r, 1) };
  }

  async renew(requestId: string, expiresAtMs: number): Promise<boolean> {
    return (await this.runScalar(RENEW, [this.key("h", requestId), this.key("exp")], [requestId, expiresAtMs])) === 1;
  }

  async credit(customerId: string, amountMicros: number, seq?: number): Promise<{ applied: boolean; availableMicros: number }> {
    assertMicros(amountMicros);
    assert(amountMicros > 0, "a credit must be positive");
    const r = await this.run(
      CREDIT,
      [this.key("gen"), this.key("c", customerId), this.key("cr", customerId, String(seq ?? "")), this.key("customers")],
      [customerId, amountMicros, seq === undefined ? "" : seq, this.opts.creditMarkerTtlMs],
    );
    this.notReady(r);
    return { applied: r[0] === "APPLIED", availableMicros: int(r[1]) };
  }

  async balance(customerId: string): Promise<{ availableMicros: number; heldMicros: number }> {
    const r = await this.run(BALANCE, [this.key("gen"), this.key("c", customerId)], []);
    this.notReady(r);
    return { availableMicros: int(r[1]), heldMicros: int(r[2]) };
  }

  async hold(requestId: string): Promise<HoldView | null> {
    try {
      const h = (await this.redis.hmget(this.key("h", requestId), "c", "amt", "exp", "st", "cap", "rel")) as Reply;
      return this.holdView(requestId, h, 0);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async expiredHolds(nowMs: number, limit: number): Promise<HoldView[]> {
    try {
      const ids = await this.redis.zrangebyscore(this.key("exp"), "-inf", nowMs, "LIMIT", 0, limit);
      if (ids.length === 0) return [];
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hmget(this.key("h", id), "c", "amt", "exp", "st", "cap", "rel");
      const replies = (await pipeline.exec()) ?? [];
      const out: HoldView[] = [];
      ids.forEach((id, i) => {
        const [err, h] = replies[i] ?? [null, null];
        if (err) throw err;
        const view = this.holdView(id, h as Reply, 0);
        if (view?.state === "pending") out.push(view);
      });
      return out;
    } catch (err) {
      throw unavailable(err);
    }
  }

  async customers(): Promise<string[]> {
    try {
      const out: string[] = [];
      let cursor = "0";
      do {
        const [next, batch] = await this.redis.sscan(this.key("customers"), cursor, "COUNT", 1000);
        out.push(...batch);
        cursor = next;
      } while (cursor !== "0");
      return [...new Set(out)];
    } catch (err) {
      throw unavailable(err);
    }
  }

  async ready(): Promise<boolean> {
    try {
      const [gen, runId] = await this.redis.mget(this.key("gen"), this.key("runid"));
      return gen !== null && runId === this.runId;
    } catch (err) {
      throw unavailable(err);
    }
  }

  async beginRebuild(): Promise<string | null> {
    const token = randomUUID();
    const r = await this.runScalar(BEGIN_REBUILD, [this.key("gen"), this.key("rebuild-lock")], [token, this.opts.rebuildLockTtlMs]);
    return r === 1 ? token : null;
  }

  async resync(states: CustomerState[], token?: string): Promise<void> {
    // Batches keep each script short: Redis runs nothing else while a script runs.
    for (let i = 0; i < states.length; i += 200) {
      const batch = states.slice(i, i + 200).map((s) => ({
        c: s.customerId,
        b: String(s.balanceMicros),
        s: String(s.seq),
        h: s.openHolds.map((h) => [h.requestId, String(h.amountMicros), String(h.expiresAtMs)]),
      }));
      const r = await this.runScalar(
        RESYNC,
        [this.key("gen"), this.key("rebuild-lock"), this.key("exp"), this.key("customers")],
        [this.p, token ?? "", this.opts.rebuildLockTtlMs, JSON.stringify(batch)],
      );
      if (r === "NOTREADY") throw new StoreNotReadyError("Redis balance store lost its data (flushed or restarted) and is not rebuilt yet");
      if (r === "LOSTLOCK") throw new StoreNotReadyError("lost the rebuild lock (Redis flushed or restarted mid-rebuild)");
      assert(r === "OK", `unexpected resync reply ${String(r)}`);
    }
  }

  async finishRebuild(token: string): Promise<boolean> {
    const runId = this.runId ?? (await serverRunId(this.redis));
    const r = await this.runScalar(FINISH_REBUILD, [this.key("gen"), this.key("rebuild-lock"), this.key("runid")], [token, randomUUID(), runId]);
    return r === 1;
  }

  onLost(listener: () => void): void {
    this.lostListeners.push(listener);
  }

  async queueIntent(intent: SettlementIntent): Promise<void> {
    try {
      await this.redis.hset(this.key("outbox"), intent.requestId, JSON.stringify(intent));
    } catch (err) {
      throw unavailable(err);
    }
  }

  async intents(): Promise<SettlementIntent[]> {
    try {
      return Object.values(await this.redis.hgetall(this.key("outbox"))).map((v) => JSON.parse(v) as SettlementIntent);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async intent(requestId: string): Promise<SettlementIntent | null> {
    try {
      const v = await this.redis.hget(this.key("outbox"), requestId);
      return v === null ? null : (JSON.parse(v) as SettlementIntent);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async dropIntent(requestId: string): Promise<void> {
    try {
      await this.redis.hdel(this.key("outbox"), requestId);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.ownsConnection) this.redis.disconnect();
  }
}
