// Builds a BillingService from configuration: the ledger on Postgres when databaseUrl is set, else
// embedded PGlite under <dataDir>/ledger; balances in Redis when redisUrl is set, else in process.
// Migrations run here, so a service handed out is ready for start().
import type { Clock } from "../core/clock";
import { BillingService } from "./billing";
import { memoryLedgerFactory, openLedger, type LedgerBackend } from "./ledger/open";
import type { BillingLogger } from "./logger";
import { createRedis } from "./redis/connection";
import { openRedisBalanceStore } from "./redis/open-store";
import type { BalanceStore } from "./store/balance-store";
import { MemoryBalanceStore } from "./store/memory-store";

export interface BillingConfig {
  /** Postgres URL; unset → embedded PGlite. */
  databaseUrl?: string;
  /** Redis URL; unset → in-process balance store (single server process). */
  redisUrl?: string;
  /** DREAM_DATA_DIR: the embedded ledger lives in <dataDir>/ledger. */
  dataDir: string;
  holdTtlMs: number;
  clock: Clock;
  logger?: BillingLogger;
  /** Embedded ledger on disk (default) or in memory (tests). */
  embeddedLedger?: "disk" | "memory";
  /** Postgres schema (default public); tests use a unique one. */
  pgSchema?: string;
  /** Redis key prefix (default dre:billing); tests use a unique one. */
  redisPrefix?: string;
  sweepIntervalMs?: number;
  reconcileIntervalMs?: number;
  authCacheTtlMs?: number;
  orphanGraceMs?: number;
}

let memoryLedgers: (() => Promise<LedgerBackend>) | undefined;

async function openConfiguredLedger(config: BillingConfig): Promise<LedgerBackend> {
  if (config.databaseUrl) return openLedger({ databaseUrl: config.databaseUrl, schema: config.pgSchema });
  if (config.embeddedLedger === "memory") return (memoryLedgers ??= memoryLedgerFactory())();
  return openLedger({ dataDir: config.dataDir });
}

export async function createBilling(config: BillingConfig): Promise<BillingService> {
  const backend = await openConfiguredLedger(config);
  let store: BalanceStore;
  try {
    await backend.migrate();
    store = config.redisUrl
      ? await openRedisBalanceStore(createRedis(config.redisUrl), config.clock, { prefix: config.redisPrefix })
      : new MemoryBalanceStore(config.clock);
  } catch (err) {
    await backend.close();
    throw err;
  }
  return new BillingService({
    ledger: backend.ledger,
    keys: backend.keys,
    store,
    clock: config.clock,
    holdTtlMs: config.holdTtlMs,
    logger: config.logger,
    sweepIntervalMs: config.sweepIntervalMs,
    reconcileIntervalMs: config.reconcileIntervalMs,
    authCacheTtlMs: config.authCacheTtlMs,
    orphanGraceMs: config.orphanGraceMs,
    ledgerKind: backend.kind,
    sql: backend.driver,
    async closeBackends() {
      try {
        await store.close();
      } finally {
        await backend.close();
      }
    },
  });
}
