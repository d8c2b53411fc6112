// Billing throughput and latency (`npm run bench:billing`). Rows, each bounded in count and time:
//   - Redis: a trivial Lua EVALSHA round trip (the ceiling) beside the store's reserve+post pair
//     (two EVALSHAs), on the same Redis in the same run, at 1 and 16 concurrent callers;
//   - in-process store: an async no-op call (the ceiling) beside its reserve+post pair;
//   - the whole BillingService (store gate + durable ledger hold + ledger-first post), embedded and
//     with Redis (ledger on Postgres when DATABASE_URL is set, else PGlite): 1 caller (latency), 16
//     callers on one customer (its ledger row serializes them), 16 callers on 16 customers.
// Loopback only. Options: --ops N (store rows, default 20000), --full-ops N (default 1500),
// --max-seconds S (per row, default 10). Prints one JSON row per line, then a one-line summary.
import { randomBytes } from "node:crypto";
import { systemClock } from "../src/core/clock";
import { BillingService } from "../src/billing/billing";
import { memoryLedgerFactory, openLedger, type LedgerBackend } from "../src/billing/ledger/open";
import { createRedis, type RedisClient } from "../src/billing/redis/connection";
import { LuaScript } from "../src/billing/redis/lua-script";
import { RedisBalanceStore } from "../src/billing/redis/redis-store";
import type { BalanceStore } from "../src/billing/store/balance-store";
import { MemoryBalanceStore } from "../src/billing/store/memory-store";

const PRICE_MICROS = 24_500; // one 49-frame rollout
const FUNDS_MICROS = 1_000_000_000_000;

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i > 0 ? Number(process.argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

const OPS = arg("ops", 20_000);
const FULL_OPS = arg("full-ops", 1_500);
const MAX_MS = arg("max-seconds", 10) * 1000;

function loopbackOnly(url: string, what: string): string {
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) throw new Error(`${what} must be on loopback for this benchmark, got ${host}`);
  return url;
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

interface Row {
  row: string;
  backend: string;
  concurrency: number;
  ops: number;
  ops_per_s: number;
  p50_us: number;
  p99_us: number;
  seconds: number;
  ratio_to_ceiling?: number;
}

/** Runs op up to `count` times across `concurrency` callers, stopping early at MAX_MS. */
async function measure(row: string, backend: string, concurrency: number, count: number, op: (i: number) => Promise<unknown>): Promise<Row> {
  const latenciesUs: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  const deadline = started + BigInt(MAX_MS) * 1_000_000n;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count && process.hrtime.bigint() < deadline) {
        const i = next++;
        const t0 = process.hrtime.bigint();
        await op(i);
        latenciesUs.push(Number(process.hrtime.bigint() - t0) / 1000);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  latenciesUs.sort((a, b) => a - b);
  const r = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
  return { row, backend, concurrency, ops: latenciesUs.length, ops_per_s: r(latenciesUs.length / seconds, 0), p50_us: r(percentile(latenciesUs, 0.5)), p99_us: r(percentile(latenciesUs, 0.99)), seconds: r(seconds, 2) };
}

async function readyStore(store: BalanceStore): Promise<string> {
  const token = await store.beginRebuild();
  if (!token || !(await store.finishRebuild(token))) throw new Error("could not prepare the store");
  const customer = `cus_bench_${randomBytes(4).toString("hex")}`;
  await store.credit(customer, FUNDS_MICROS);
  return customer;
}

function pair(store: BalanceStore, customer: string, tag: string): (i: number) => Promise<void> {
  return async (i) => {
    const requestId = `${tag}-${i}`;
    const r = await store.reserve(customer, PRICE_MICROS, requestId, 60_000);
    if (r.status !== "held") throw new Error(`reserve ${r.status}`);
    await store.post(requestId, PRICE_MICROS);
  };
}

async function fullService(ledger: LedgerBackend, store: BalanceStore): Promise<BillingService> {
  const billing = new BillingService({ ledger: ledger.ledger, keys: ledger.keys, store, clock: systemClock, holdTtlMs: 60_000, sweepIntervalMs: 0, reconcileIntervalMs: 0 });
  await billing.start();
  return billing;
}

function servicePair(billing: BillingService, customerIds: string[], tag: string): (i: number) => Promise<void> {
  return async (i) => {
    const requestId = `${tag}-${i}`;
    await billing.reserve({ customerId: customerIds[i % customerIds.length]!, requestId, amountMicros: PRICE_MICROS });
    await billing.post(requestId, PRICE_MICROS);
  };
}

async function cleanup(redis: RedisClient, prefix: string): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    if (keys.length > 0) await redis.del(...keys);
    cursor = next;
  } while (cursor !== "0");
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const emit = (r: Row): void => {
    rows.push(r);
    process.stdout.write(`${JSON.stringify(r)}\n`);
  };
  const notes: string[] = [];
  const tag = randomBytes(4).toString("hex");

  // ----- Redis -----
  const redisUrl = loopbackOnly(process.env.REDIS_URL || "redis://127.0.0.1:6379", "REDIS_URL");
  const prefix = `bench:billing:${tag}`;
  let redis: RedisClient | undefined = createRedis(redisUrl);
  let redisStore: RedisBalanceStore | undefined;
  try {
    redisStore = await RedisBalanceStore.open(redis, systemClock, { prefix, tombstoneTtlMs: 120_000 });
  } catch (err) {
    notes.push(`Redis rows skipped: ${(err as Error).message}`);
    redis = undefined;
  }
  if (redis && redisStore) {
    const trivial = new LuaScript("bench-trivial", "return 1");
    const customer = await readyStore(redisStore);
    for (const c of [1, 16]) {
      const ceiling = await measure("lua_evalsha_ceiling", "redis", c, OPS, () => trivial.run(redis!, [], []));
      emit(ceiling);
      const pairs = await measure("reserve_post_pair", "redis", c, OPS / 2, pair(redisStore, customer, `${tag}-c${c}`));
      emit({ ...pairs, ratio_to_ceiling: Math.round((pairs.ops_per_s / ceiling.ops_per_s) * 1000) / 1000 });
    }
  }

  // ----- in-process store -----
  const memory = new MemoryBalanceStore(systemClock);
  const memCustomer = await readyStore(memory);
  const noop = async (): Promise<void> => undefined;
  for (const c of [1, 16]) {
    const ceiling = await measure("async_call_ceiling", "in-process", c, OPS * 5, noop);
    emit(ceiling);
    const pairs = await measure("reserve_post_pair", "in-process", c, OPS * 2, pair(memory, memCustomer, `${tag}-m${c}`));
    emit({ ...pairs, ratio_to_ceiling: Math.round((pairs.ops_per_s / ceiling.ops_per_s) * 1000) / 1000 });
  }

  // ----- the whole BillingService (ledger included) -----
  // One customer (every request contends for its ledger row) and 16 customers (one per caller).
  const serviceRows = async (billing: BillingService, backend: string, t: string): Promise<void> => {
    const customers: string[] = [];
    for (let i = 0; i < 16; i++) customers.push((await billing.createKey({ name: `bench${i}`, creditsMicros: FUNDS_MICROS })).customerId);
    emit(await measure("billing_reserve_post_1_caller", backend, 1, Math.ceil(FULL_OPS / 3), servicePair(billing, customers.slice(0, 1), `${t}-solo`)));
    emit(await measure("billing_reserve_post_1_customer", backend, 16, FULL_OPS, servicePair(billing, customers.slice(0, 1), `${t}-one`)));
    emit(await measure("billing_reserve_post_16_customers", backend, 16, FULL_OPS, servicePair(billing, customers, `${t}-many`)));
  };
  {
    const ledger = await memoryLedgerFactory()();
    const billing = await fullService(ledger, new MemoryBalanceStore(systemClock));
    await serviceRows(billing, "PGlite + in-process", `${tag}-fe`);
    await billing.close();
    await ledger.close();
  }
  if (redis) {
    const databaseUrl = process.env.DATABASE_URL ? loopbackOnly(process.env.DATABASE_URL, "DATABASE_URL") : undefined;
    const schema = `bench_billing_${tag}`;
    const ledger = databaseUrl ? await openLedger({ databaseUrl, schema, dropSchemaOnClose: true }) : await memoryLedgerFactory()();
    await ledger.migrate();
    const store = await RedisBalanceStore.open(createRedis(redisUrl), systemClock, { prefix: `${prefix}:svc`, tombstoneTtlMs: 120_000 });
    const billing = await fullService(ledger, store);
    await serviceRows(billing, `${databaseUrl ? "Postgres" : "PGlite"} + Redis`, `${tag}-fr`);
    await billing.close();
    await store.close();
    await ledger.close();
  }

  if (redis) {
    await cleanup(redis, prefix);
    await redisStore?.close();
  }

  const find = (row: string, backend: string, c: number) => rows.find((r) => r.row === row && r.backend.startsWith(backend) && r.concurrency === c);
  const parts: string[] = [];
  for (const c of [16, 1]) {
    const p = find("reserve_post_pair", "redis", c);
    const ceil = find("lua_evalsha_ceiling", "redis", c);
    if (p && ceil) parts.push(`Redis c=${c}: ${p.ops_per_s} reserve+post pairs/s (p50 ${p.p50_us} µs, p99 ${p.p99_us} µs) vs EVALSHA ceiling ${ceil.ops_per_s}/s = ${p.ratio_to_ceiling}× (a pair is 2 scripts)`);
  }
  const mp = find("reserve_post_pair", "in-process", 16);
  const mc = find("async_call_ceiling", "in-process", 16);
  if (mp && mc) parts.push(`in-process c=16: ${mp.ops_per_s} pairs/s (p50 ${mp.p50_us} µs) vs no-op ceiling ${mc.ops_per_s}/s = ${mp.ratio_to_ceiling}×`);
  for (const r of rows.filter((x) => x.row.startsWith("billing_reserve_post"))) {
    const shape = r.row.endsWith("1_caller") ? "1 caller" : r.row.endsWith("1_customer") ? "16 callers, 1 customer" : "16 callers, 16 customers";
    parts.push(`full service [${r.backend}, ${shape}]: ${r.ops_per_s} pairs/s (p50 ${(r.p50_us / 1000).toFixed(2)} ms, p99 ${(r.p99_us / 1000).toFixed(2)} ms)`);
  }
  process.stdout.write(`summary: ${parts.join("; ")}${notes.length > 0 ? `. ${notes.join(" ")}` : ""}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:billing failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
