// BillingService fixtures over fresh backends: embedded (PGlite clone + in-process store) or Redis
// (REDIS_URL, unique key prefix) with the ledger on Postgres when DATABASE_URL is set, else PGlite.
// Background timers are off: tests drive sweep() and move a FakeClock.
import { BillingService } from "../../../src/billing/billing";
import type { LedgerBackend } from "../../../src/billing/ledger/open";
import { createRedis, type RedisClient } from "../../../src/billing/redis/connection";
import { RedisBalanceStore } from "../../../src/billing/redis/redis-store";
import type { BalanceStore } from "../../../src/billing/store/balance-store";
import { MemoryBalanceStore } from "../../../src/billing/store/memory-store";
import { FakeClock } from "../../../src/core/clock";
import { DATABASE_URL, REDIS_URL, describeWithEnv, uniqueName } from "./env";
import { freshMemoryLedger, freshPgLedger } from "./ledgers";

export const HOLD_TTL_MS = 60_000;

export interface StoreSpec {
  kind: "memory" | "redis";
  redisUrl?: string;
}

export interface BillingFixture {
  billing: BillingService;
  clock: FakeClock;
  backend: LedgerBackend;
  store: BalanceStore;
  /** The Redis connection of the store (redis fixtures). */
  redis?: RedisClient;
  prefix?: string;
  /** A second service over the same ledger (and the same Redis keys): "another server", or "after a restart". */
  another(): Promise<BillingService>;
  close(): Promise<void>;
}

export async function openStore(spec: StoreSpec, clock: FakeClock, prefix: string): Promise<{ store: BalanceStore; redis?: RedisClient }> {
  if (spec.kind === "memory") return { store: new MemoryBalanceStore(clock) };
  const redis = createRedis(spec.redisUrl!);
  return { store: await RedisBalanceStore.open(redis, clock, { prefix }), redis };
}

export function service(backend: LedgerBackend, store: BalanceStore, clock: FakeClock, holdTtlMs = HOLD_TTL_MS): BillingService {
  return new BillingService({ ledger: backend.ledger, keys: backend.keys, store, clock, holdTtlMs, sweepIntervalMs: 0, renewIntervalMs: 0, reconcileIntervalMs: 0, ledgerKind: backend.kind });
}

export async function openBilling(spec: StoreSpec): Promise<BillingFixture> {
  const clock = new FakeClock();
  const backend = DATABASE_URL && spec.kind === "redis" ? await freshPgLedger(DATABASE_URL) : await freshMemoryLedger();
  const prefix = uniqueName("test:billing");
  const { store, redis } = await openStore(spec, clock, prefix);
  const billing = service(backend, store, clock);
  await billing.start();
  const extra: { close(): Promise<void> }[] = [];
  return {
    billing,
    clock,
    backend,
    store,
    redis,
    prefix,
    async another() {
      const opened = await openStore(spec, clock, prefix);
      extra.push(opened.store);
      const other = service(backend, opened.store, clock);
      extra.unshift(other); // closed before its store: it may hold a LISTEN connection to the ledger
      await other.start();
      return other;
    },
    async close() {
      await billing.close();
      for (const e of extra) await e.close();
      if (redis) {
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
      }
      await store.close();
      await backend.close();
    },
  };
}

/** Runs body once per store: in-process always, Redis when REDIS_URL is set (a pending test says so otherwise). */
export function forEachStore(title: string, body: (open: () => Promise<BillingFixture>) => void): void {
  describe(`${title} [embedded: PGlite + in-process store]`, function () {
    body(() => openBilling({ kind: "memory" }));
  });
  describeWithEnv("REDIS_URL", REDIS_URL, `${title} [Redis store, ledger on ${DATABASE_URL ? "Postgres" : "PGlite"}]`, (url) => {
    body(() => openBilling({ kind: "redis", redisUrl: url }));
  });
}
