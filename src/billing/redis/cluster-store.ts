// BalanceStore on a Redis Cluster: the standalone store's contract and money logic (one Lua script per
// check-and-update), laid out so that every script touches one slot (cluster-keys.ts), and with the
// failover check of cluster-scripts.ts. Whole-store operations (ready, rebuild, sweeps, customers)
// visit every bucket; they are a few dozen small calls, run concurrently.
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
import { ClusterKeys } from "./cluster-keys";
import { C_BALANCE, C_CREDIT, C_FINISH_BUCKET, C_GLOBAL_LOCK, C_LOCK_BUCKET, C_READY, C_RENEW, C_RESERVE, C_RESYNC, C_SETTLE } from "./cluster-scripts";
import { connectRedis, isServerReply, type RedisClient } from "./connection";
import type { LuaScript } from "./lua-script";
import type { RedisStoreOptions } from "./redis-store";

type Reply = (string | number | null)[];
const HOLD_FIELDS = ["c", "amt", "exp", "st", "cap", "rel"] as const;
/** Customers per resync script: Redis runs nothing else while a script runs. */
const RESYNC_BATCH = 200;

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

function unavailable(err: unknown): unknown {
  if (err instanceof AssertionError || err instanceof StoreNotReadyError || err instanceof StoreUnavailableError) return err;
  if (isServerReply(err)) return err;
  return new StoreUnavailableError(`balance store (Redis Cluster) unavailable: ${err instanceof Error ? err.message : String(err)}`, err);
}

const notReadyError = (): StoreNotReadyError => new StoreNotReadyError("Redis Cluster balance store lost its mirror (flushed, restarted or failed over) and is not rebuilt yet");

function holdView(requestId: string, r: Reply, from: number): HoldView | null {
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

export class RedisClusterBalanceStore extends SettleOps implements BalanceStore {
  readonly kind = "redis";
  readonly keys: ClusterKeys;
  private readonly opts: typeof STORE_DEFAULTS;
  private readonly lostListeners: (() => void)[] = [];
  /** Set from a rebuild's start to a NOTREADY seen after it finished: one announcement per loss. */
  private lossAnnounced = true;

  private constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    options: RedisStoreOptions,
    private readonly ownsConnection: boolean,
  ) {
    super();
    this.keys = new ClusterKeys(options.prefix ?? "dre:billing");
    this.opts = { ...STORE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([k]) => k !== "prefix")) };
  }

  static async open(redis: RedisClient, clock: Clock, options: RedisStoreOptions = {}, ownsConnection = true): Promise<RedisClusterBalanceStore> {
    const store = new RedisClusterBalanceStore(redis, clock, options, ownsConnection);
    try {
      await connectRedis(redis);
    } catch (err) {
      if (ownsConnection) redis.disconnect();
      throw unavailable(err);
    }
    return store;
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw unavailable(err);
    }
  }

  private run(script: LuaScript, keys: string[], args: (string | number)[]): Promise<Reply> {
    return this.call(async () => (await script.run(this.redis, keys, args)) as Reply);
  }

  private checkReady(reply: Reply): void {
    if (reply[0] !== "NOTREADY") return;
    if (!this.lossAnnounced) {
      // A bucket lost its mirror after a complete rebuild (a failover, most likely): rebuild now, not
      // at the next reconcile.
      this.lossAnnounced = true;
      setImmediate(() => this.lostListeners.forEach((l) => l()));
    }
    throw notReadyError();
  }

  /** Which customer's bucket holds requestId; null when the store has never seen it. */
  private owner(requestId: string): Promise<string | null> {
    return this.call(() => this.redis.get(this.keys.requestIndex(requestId)));
  }

  /** A settled hold's index goes with its tombstone. Best effort: a leftover index points to the right bucket. */
  private expireIndex(requestIds: string[]): void {
    for (const id of requestIds) void this.redis.pexpire(this.keys.requestIndex(id), this.opts.tombstoneTtlMs).catch(() => undefined);
  }

  async reserve(customerId: string, amountMicros: number, requestId: string, ttlMs: number): Promise<ReserveResult> {
    assertMicros(amountMicros);
    assert(amountMicros > 0 && ttlMs > 0, "reserve needs a positive amount and ttl");
    // The index first: a hold that exists is always findable by its request id (the reverse, an index
    // without a hold, only makes a later settle answer "unknown", which is the truth).
    const bound = (await this.call(() => this.redis.set(this.keys.requestIndex(requestId), customerId, "NX", "GET"))) as string | null;
    if (bound !== null && bound !== customerId) {
      const other = await this.hold(requestId);
      if (other !== null && other.state !== "cancelled") return { status: "duplicate", availableMicros: (await this.balance(customerId)).availableMicros, hold: other };
      // The other customer's attempt never reached the ledger: the request id is free to move.
      await this.call(() => this.redis.set(this.keys.requestIndex(requestId), customerId));
    }
    const b = this.keys.bucketOf(customerId);
    const expiresAtMs = this.clock.wallMs() + ttlMs;
    const k = this.keys;
    const r = await this.run(C_RESERVE, [k.gen(b), k.customer(b, customerId), k.pending(b, customerId), k.hold(b, requestId), k.exp(b), k.customers(b)], [customerId, requestId, amountMicros, expiresAtMs]);
    this.checkReady(r);
    if (r[0] === "HELD") return { status: "held", availableMicros: int(r[1]), expiresAtMs };
    if (r[0] === "INSUFFICIENT") return { status: "insufficient", availableMicros: int(r[1]) };
    assert(r[0] === "DUPLICATE", `unexpected reserve reply ${String(r[0])}`);
    return { status: "duplicate", availableMicros: int(r[1]), hold: holdView(requestId, r, 2)! };
  }

  protected async settle(op: SettleOp, requestId: string, actualMicros: number, mirror: LedgerMirror | undefined): Promise<SettleResult> {
    // The ledger's word (mirror) names the customer without a round trip; otherwise the index does. A
    // request id neither knows still runs the script (in any bucket) so NOTREADY comes before "unknown".
    const customer = mirror?.customerId ?? (await this.owner(requestId));
    const b = this.keys.bucketOf(customer ?? requestId);
    const k = this.keys;
    const r = await this.run(C_SETTLE, [k.gen(b), k.hold(b, requestId), k.exp(b), k.customers(b)], [
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
      k.tag(b),
    ]);
    this.checkReady(r);
    if (r[0] === "OVERCAPTURE") throw new AssertionError(`cannot capture ${actualMicros} micros from hold ${requestId} (${String(r[2] ?? mirror?.heldMicros)} held)`);
    const status = SETTLE_STATUS[String(r[0])];
    assert(status !== undefined, `unexpected settle reply ${String(r[0])}`);
    if (status === "applied") this.expireIndex([requestId]);
    return { status, hold: holdView(requestId, r, 1) };
  }

  async renew(requestId: string, expiresAtMs: number): Promise<boolean> {
    const customer = await this.owner(requestId);
    if (customer === null) return false;
    const b = this.keys.bucketOf(customer);
    return (await this.call(() => C_RENEW.run(this.redis, [this.keys.hold(b, requestId), this.keys.exp(b)], [requestId, expiresAtMs]))) === 1;
  }

  async credit(customerId: string, amountMicros: number, seq?: number): Promise<{ applied: boolean; availableMicros: number }> {
    assertMicros(amountMicros);
    assert(amountMicros > 0, "a credit must be positive");
    const b = this.keys.bucketOf(customerId);
    const k = this.keys;
    const r = await this.run(C_CREDIT, [k.gen(b), k.customer(b, customerId), k.creditMarker(b, customerId, String(seq ?? "")), k.customers(b)], [customerId, amountMicros, seq === undefined ? "" : seq, this.opts.creditMarkerTtlMs]);
    this.checkReady(r);
    return { applied: r[0] === "APPLIED", availableMicros: int(r[1]) };
  }

  async balance(customerId: string): Promise<{ availableMicros: number; heldMicros: number }> {
    const b = this.keys.bucketOf(customerId);
    const r = await this.run(C_BALANCE, [this.keys.gen(b), this.keys.customer(b, customerId)], []);
    this.checkReady(r);
    return { availableMicros: int(r[1]), heldMicros: int(r[2]) };
  }

  async hold(requestId: string): Promise<HoldView | null> {
    const customer = await this.owner(requestId);
    if (customer === null) return null;
    const b = this.keys.bucketOf(customer);
    const h = (await this.call(() => this.redis.hmget(this.keys.hold(b, requestId), ...HOLD_FIELDS))) as Reply;
    return holdView(requestId, h, 0);
  }

  async expiredHolds(nowMs: number, limit: number): Promise<HoldView[]> {
    // Each bucket's oldest `limit`, merged: the overall oldest `limit` are among them.
    const perBucket = await Promise.all(
      this.keys.all().map(async (b) => {
        const flat = await this.call(() => this.redis.zrangebyscore(this.keys.exp(b), "-inf", nowMs, "WITHSCORES", "LIMIT", 0, limit));
        const out: { b: number; id: string; at: number }[] = [];
        for (let i = 0; i < flat.length; i += 2) out.push({ b, id: flat[i]!, at: Number(flat[i + 1]) });
        return out;
      }),
    );
    const oldest = perBucket
      .flat()
      .sort((x, y) => x.at - y.at || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0))
      .slice(0, limit);
    const views = await Promise.all(oldest.map(async ({ b, id }) => holdView(id, (await this.call(() => this.redis.hmget(this.keys.hold(b, id), ...HOLD_FIELDS))) as Reply, 0)));
    return views.filter((v): v is HoldView => v?.state === "pending");
  }

  async customers(): Promise<string[]> {
    const sets = await Promise.all(
      this.keys.all().map(async (b) => {
        const out: string[] = [];
        let cursor = "0";
        do {
          const [next, batch] = await this.call(() => this.redis.sscan(this.keys.customers(b), cursor, "COUNT", 1000));
          out.push(...batch);
          cursor = next;
        } while (cursor !== "0");
        return out;
      }),
    );
    return [...new Set(sets.flat())];
  }

  async ready(): Promise<boolean> {
    const flags = await Promise.all(this.keys.all().map((b) => this.call(() => C_READY.run(this.redis, [this.keys.gen(b)], []))));
    const ready = flags.every((f) => f === 1);
    // Complete now (perhaps rebuilt by another server): the next NOTREADY is a loss worth announcing.
    if (ready) this.lossAnnounced = false;
    return ready;
  }

  private releaseLock(token: string): Promise<void> {
    return C_GLOBAL_LOCK.run(this.redis, [this.keys.rebuildLock()], [token, "release", 0]).then(
      () => undefined,
      () => undefined, // it expires on its own (rebuildLockTtlMs)
    );
  }

  async beginRebuild(): Promise<string | null> {
    const token = randomUUID();
    const took = await this.call(() => this.redis.set(this.keys.rebuildLock(), token, "PX", this.opts.rebuildLockTtlMs, "NX"));
    if (took !== "OK") return null;
    this.lossAnnounced = true;
    try {
      await Promise.all(this.keys.all().map((b) => this.call(() => C_LOCK_BUCKET.run(this.redis, [this.keys.gen(b), this.keys.lock(b)], [token, this.opts.rebuildLockTtlMs]))));
    } catch (err) {
      // Give the lock up at once: a retry (this process or another) must not wait out its TTL.
      await this.releaseLock(token);
      throw err;
    }
    return token;
  }

  async resync(states: CustomerState[], token?: string): Promise<void> {
    try {
      if (token !== undefined) {
        const held = await this.call(() => C_GLOBAL_LOCK.run(this.redis, [this.keys.rebuildLock()], [token, "refresh", this.opts.rebuildLockTtlMs]));
        if (held !== 1) throw new StoreNotReadyError("lost the rebuild lock (Redis flushed, restarted or failed over mid-rebuild)");
      }
      const byBucket = new Map<number, CustomerState[]>();
      for (const s of states) {
        const b = this.keys.bucketOf(s.customerId);
        byBucket.set(b, [...(byBucket.get(b) ?? []), s]);
      }
      await Promise.all([...byBucket].map(([b, list]) => this.resyncBucket(b, list, token)));
    } catch (err) {
      if (token !== undefined) await this.releaseLock(token);
      throw err;
    }
  }

  private async resyncBucket(b: number, states: CustomerState[], token: string | undefined): Promise<void> {
    for (let i = 0; i < states.length; i += RESYNC_BATCH) {
      const batch = states.slice(i, i + RESYNC_BATCH);
      // Indexes before holds, as in reserve; the ledger's customer wins over whatever the index said.
      await Promise.all(batch.flatMap((s) => s.openHolds.map((h) => this.call(() => this.redis.set(this.keys.requestIndex(h.requestId), s.customerId)))));
      const json = JSON.stringify(batch.map((s) => ({ c: s.customerId, b: String(s.balanceMicros), s: String(s.seq), h: s.openHolds.map((h) => [h.requestId, String(h.amountMicros), String(h.expiresAtMs)]) })));
      const k = this.keys;
      const r = await this.run(C_RESYNC, [k.gen(b), k.lock(b), k.exp(b), k.customers(b)], [k.tag(b), token ?? "", this.opts.rebuildLockTtlMs, json]);
      if (r[0] === "NOTREADY") throw notReadyError();
      if (r[0] === "LOSTLOCK") throw new StoreNotReadyError("lost the rebuild lock (Redis flushed, restarted or failed over mid-rebuild)");
      assert(r[0] === "OK", `unexpected resync reply ${String(r[0])}`);
      this.expireIndex(r.slice(1).map(String));
    }
  }

  async finishRebuild(token: string): Promise<boolean> {
    try {
      if ((await this.call(() => this.redis.get(this.keys.rebuildLock()))) !== token) return false;
      const done = await Promise.all(this.keys.all().map((b) => this.call(() => C_FINISH_BUCKET.run(this.redis, [this.keys.gen(b), this.keys.lock(b)], [token]))));
      const ok = done.every((d) => d === 1);
      if (ok) this.lossAnnounced = false;
      return ok;
    } finally {
      // Finished or failed, this rebuild is over; a retry takes the lock afresh.
      await this.releaseLock(token);
    }
  }

  onLost(listener: () => void): void {
    this.lostListeners.push(listener);
  }

  async queueIntent(intent: SettlementIntent): Promise<void> {
    await this.call(() => this.redis.hset(this.keys.outbox(), intent.requestId, JSON.stringify(intent)));
  }

  async intents(): Promise<SettlementIntent[]> {
    return Object.values(await this.call(() => this.redis.hgetall(this.keys.outbox()))).map((v) => JSON.parse(v) as SettlementIntent);
  }

  async intent(requestId: string): Promise<SettlementIntent | null> {
    const v = await this.call(() => this.redis.hget(this.keys.outbox(), requestId));
    return v === null ? null : (JSON.parse(v) as SettlementIntent);
  }

  async dropIntent(requestId: string): Promise<void> {
    await this.call(() => this.redis.hdel(this.keys.outbox(), requestId));
  }

  async close(): Promise<void> {
    if (this.ownsConnection) this.redis.disconnect();
  }
}
