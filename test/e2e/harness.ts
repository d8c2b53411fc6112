// Starts the whole server in-process on ephemeral ports with a temp data dir (embedded ledger and
// in-process balances unless the caller passes DATABASE_URL / REDIS_URL), for end-to-end tests.
import * as grpc from "@grpc/grpc-js";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { startApp, type App } from "../../src/app/app";
import { createRedis, isCluster } from "../../src/billing/redis/connection";
import { loadConfig } from "../../src/config/config";
import { silentLogger, type Logger } from "../../src/observability/logger";
import { DreamClient } from "../../clients/typescript/src";

export interface Harness {
  app: App;
  client: DreamClient;
  apiKey: string;
  customerId: string;
  grpcAddress: string;
  httpBase: string;
  newKey(creditsUsd: number): Promise<{ rawKey: string; customerId: string }>;
  /** The ledger's balance once every charge posted behind a response so far has landed. */
  balanceOf(customerId: string): ReturnType<App["billing"]["balance"]>;
  stop(): Promise<void>;
}

/** The e2e server's settings: ephemeral ports, `dataDir`, the tiny model, quiet, no starter key. */
export function e2eEnv(dataDir: string): Record<string, string> {
  return {
    DREAM_GRPC_ADDR: "127.0.0.1:0",
    DREAM_HTTP_ADDR: "127.0.0.1:0",
    DREAM_DATA_DIR: dataDir,
    DREAM_MODELS: "dream-reference-tiny",
    DREAM_LOG_LEVEL: "silent",
    DREAM_STARTER_CREDITS_USD: "0",
    DREAM_SHUTDOWN_GRACE_MS: "2000",
  };
}

export async function startHarness(env: Record<string, string | undefined> = {}, creditsUsd = 100, logger: Logger = silentLogger): Promise<Harness> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-e2e-"));
  const config = loadConfig({
    ...e2eEnv(dataDir),
    // Each run gets its own schema and key prefix on shared real servers.
    DREAM_PG_SCHEMA: `e2e_${process.pid}_${Date.now().toString(36)}`,
    DREAM_REDIS_PREFIX: `e2e:${process.pid}:${Date.now().toString(36)}`,
    ...env,
  });
  const app = await startApp(config, { logger });
  await app.modelsLoaded;
  const newKey = async (usd: number) => {
    const key = await app.billing.createKey({ name: `e2e-${Date.now()}`, creditsMicros: Math.round(usd * 1_000_000) });
    return { rawKey: key.rawKey, customerId: key.customerId };
  };
  const key = await newKey(creditsUsd);
  const grpcAddress = `127.0.0.1:${app.grpcPort}`;
  // No retries: e2e tests assert the server's first answer (a RATE_LIMITED, an UNAVAILABLE) as sent.
  const client = new DreamClient({ address: grpcAddress, apiKey: key.rawKey, retries: 0 });
  return {
    app,
    client,
    apiKey: key.rawKey,
    customerId: key.customerId,
    grpcAddress,
    httpBase: `http://127.0.0.1:${app.httpPort}`,
    newKey,
    async balanceOf(customerId: string) {
      await app.settled();
      return app.billing.balance(customerId);
    },
    async stop() {
      client.close();
      await app.shutdown();
      fs.rmSync(dataDir, { recursive: true, force: true });
      await dropRealBackendState(config.databaseUrl, config.pgSchema, config.redisUrl, config.redisPrefix);
    },
  };
}

/** Removes this run's schema and keys from the shared Postgres / Redis servers. */
async function dropRealBackendState(databaseUrl?: string, schema?: string, redisUrl?: string, prefix?: string): Promise<void> {
  if (databaseUrl && schema) {
    const { Client } = await import("pg");
    const pg = new Client({ connectionString: databaseUrl });
    await pg.connect();
    await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await pg.end();
  }
  if (redisUrl && prefix) {
    const { default: Redis } = await import("ioredis");
    // A cluster's keys live on its masters: scan each (a DEL of one key at a time crosses no slot).
    const client = createRedis(redisUrl, { failFast: false });
    const nodes: import("ioredis").Redis[] = isCluster(client) ? (await client.connect().then(() => client.nodes("master"))) : [new Redis(redisUrl, { lazyConnect: true })];
    for (const redis of nodes) {
      if (redis.status === "wait") await redis.connect();
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
        for (const key of keys) await client.del(key);
        cursor = next;
      } while (cursor !== "0");
    }
    if (!isCluster(client)) for (const n of nodes) n.disconnect();
    client.disconnect();
  }
}

/** A deterministic start frame with structure (gradients + a bright square), raw RGB8. */
export function testFrame(height: number, width: number): Uint8Array {
  const f = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const square = Math.abs(y - height / 2) < height / 8 && Math.abs(x - width / 2) < width / 8;
      f[i] = square ? 240 : Math.floor((255 * x) / width);
      f[i + 1] = square ? 220 : Math.floor((255 * y) / height);
      f[i + 2] = square ? 30 : 128;
    }
  }
  return f;
}

/** Deterministic actions (T, dim) for candidate k: different k → different actions. */
export function testActions(steps: number, dim: number, k: number): Float32Array {
  const a = new Float32Array(steps * dim);
  for (let t = 0; t < steps; t++) for (let d = 0; d < dim; d++) a[t * dim + d] = Math.sin(0.1 * t + 0.37 * d + 1.3 * k) * 0.8;
  return a;
}

/** The repository root: where the e2e tests run the SDK scripts and examples from. */
export const REPO_ROOT = path.resolve(__dirname, "..", "..");

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command from the repository root to its end, collecting what it printed. */
export function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** gRPC metadata carrying an API key, for tests that call the server with a raw grpc-js client. */
export function bearer(key: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${key}`);
  return md;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls until `cond()` holds (no wall-clock bound beyond mocha's). */
export async function until(cond: () => boolean | Promise<boolean>, everyMs = 20): Promise<void> {
  while (!(await cond())) await sleep(everyMs);
}

/** Polls until `read()` returns the same value `times` polls in a row (no wall-clock bound beyond mocha's). */
export async function settledValue<T>(read: () => T, times = 5, everyMs = 50): Promise<T> {
  let last = read();
  let same = 0;
  while (same < times) {
    await sleep(everyMs);
    const now = read();
    if (now === last) same++;
    else {
      last = now;
      same = 0;
    }
  }
  return last;
}
