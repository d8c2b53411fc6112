// A CLI grant reaches a running server at once (no polling): the ledger announces every committed credit
// (NOTIFY from a trigger) and the server's store mirrors it, seq-guarded. Real Postgres only: the
// embedded ledger is one process, so the CLI cannot run beside a server there.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { createBilling, type BillingService } from "../../src/billing";
import { openLedger } from "../../src/billing/ledger/open";
import { listenerName } from "../../src/billing/ledger/pg-driver";
import { connectRedis, createRedis } from "../../src/billing/redis/connection";
import { systemClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { runCli } from "./helpers/cli";
import { DATABASE_URL, REDIS_URL, describeWithEnv, uniqueName } from "./helpers/env";

const ROLLOUT = 24_500;


/** Retries the reserve until it holds; returns how long after the CLI exited that took. */
async function reserveWithin(billing: BillingService, customerId: string, boundMs: number): Promise<number> {
  const start = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      await billing.reserve({ customerId, requestId: `after-grant-${attempt}`, amountMicros: ROLLOUT });
      return Date.now() - start;
    } catch (err) {
      if (!(err instanceof ServiceError && err.reason === "INSUFFICIENT_CREDITS") || Date.now() - start > boundMs) throw err;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

describeWithEnv("DATABASE_URL", DATABASE_URL, "billing/cli grant → running server at once (Postgres)", (url) => {
  let dataDir: string;
  let schema: string;
  let server: BillingService | undefined;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-cli-notify-"));
    schema = uniqueName("cli_notify");
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    fs.rmSync(dataDir, { recursive: true, force: true });
    const backend = await openLedger({ databaseUrl: url, schema, dropSchemaOnClose: true });
    await backend.close();
  });

  async function startServer(redis?: { url: string; prefix: string }): Promise<BillingService> {
    // No periodic reconcile: only the announcement can bring the grant in.
    server = await createBilling({ databaseUrl: url, pgSchema: schema, redisUrl: redis?.url, redisPrefix: redis?.prefix, dataDir, holdTtlMs: 60_000, clock: systemClock, sweepIntervalMs: 0, reconcileIntervalMs: 0 });
    await server.start();
    return server;
  }

  function cliEnv(redis?: { url: string; prefix: string }): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url, DREAM_PG_SCHEMA: schema, DREAM_DATA_DIR: dataDir };
    delete env.REDIS_URL;
    delete env.DREAM_REDIS_PREFIX;
    if (redis) Object.assign(env, { REDIS_URL: redis.url, DREAM_REDIS_PREFIX: redis.prefix });
    return env;
  }

  it("without Redis: the in-process store of a running server takes a CLI grant within 1 s", async () => {
    const billing = await startServer();
    const k = await billing.createKey({ name: "poor" });
    await assert.rejects(billing.reserve({ customerId: k.customerId, requestId: "before-grant", amountMicros: ROLLOUT }), (e: unknown) => e instanceof ServiceError && e.reason === "INSUFFICIENT_CREDITS");
    const granted = await runCli(cliEnv(), "credits", "grant", k.customerId, "1");
    assert.equal(granted.code, 0, granted.stderr);
    assert.ok((await reserveWithin(billing, k.customerId, 1_000)) <= 1_000);
    assert.deepEqual((await billing.balance(k.customerId)).balanceMicros, 1_000_000 - ROLLOUT);
    assert.equal((await billing.reconcile({ repair: false })).drift.length, 0, "the store agrees with the ledger");
    // One LISTEN connection while running, none once closed (tests and restarts leak nothing).
    const listeners = async () => {
      const backend = await openLedger({ databaseUrl: url, schema });
      try {
        return (await backend.driver.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1", [listenerName(schema)]))[0]!.n;
      } finally {
        await backend.close();
      }
    };
    assert.equal(await listeners(), 1);
    await billing.close();
    server = undefined;
    assert.equal(await listeners(), 0);
  });

  describeWithEnv("REDIS_URL", REDIS_URL, "with Redis", (redisUrl) => {
    it("the CLI writes the grant to the shared Redis store itself; the server's announcement is a no-op (credited once)", async () => {
      const redis = { url: redisUrl, prefix: uniqueName("test:cli-notify") };
      try {
        const billing = await startServer(redis);
        const k = await billing.createKey({ name: "poor-redis" });
        const granted = await runCli(cliEnv(redis), "credits", "grant", k.customerId, "1");
        assert.equal(granted.code, 0, granted.stderr);
        await billing.reserve({ customerId: k.customerId, requestId: "right-after-grant", amountMicros: ROLLOUT }); // no wait at all
        assert.ok((await reserveWithin(billing, k.customerId, 0)) >= 0);
        await new Promise((r) => setTimeout(r, 200)); // let the announcement arrive too
        const report = await billing.reconcile({ repair: false });
        assert.equal(report.drift.length, 0, "credited once in Redis, not twice");
        assert.equal((await billing.balance(k.customerId)).balanceMicros, 1_000_000 - 2 * ROLLOUT);
      } finally {
        const r = createRedis(redisUrl);
        await connectRedis(r);
        const keys = await r.keys(`${redis.prefix}:*`);
        if (keys.length > 0) await r.del(...keys);
        r.disconnect();
      }
    });
  });
});
