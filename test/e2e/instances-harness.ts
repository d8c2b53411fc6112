// Many engine instances on one Postgres schema and one Redis key prefix, for test/e2e/instances.test.ts.
// Each instance is the real server as a child process (node --import tsx src/main.ts, configured by env
// only) with its own ports and data dir (so its own admin socket), made ready through /healthz and
// stopped by its own pid. The shared backend is a private schema (created and migrated here first, so
// instances may start together; dropped after) and a private key prefix (its keys deleted after).
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { DreamClient, DreamError, packActions } from "../../clients/typescript/src";
import type { AdminClient } from "../../src/app/admin/client";
import { findRunningServer } from "../../src/app/admin/find-server";
import { createBilling, type BillingService } from "../../src/billing";
import { openLedger, type LedgerBackend } from "../../src/billing/ledger/open";
import type { Row } from "../../src/billing/ledger/sql-driver";
import type { ReconcileReport } from "../../src/billing/reconcile";
import { systemClock } from "../../src/core/clock";
import { SERVER_NODE_ARGS } from "../../src/core/node-flags";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import { HealthCheckResponse_ServingStatus as Serving, HealthClient } from "../../src/gen/grpc/health/v1/health";
import { migrateJobs } from "../../src/jobs/migrations";
import { uniqueName } from "../billing/helpers/env";
import { REPO_ROOT, runChild, sleep, testActions, testFrame } from "./harness";

export const TINY = "dream-reference-tiny";
export const FULL = "dream-reference-480p";
const D = 384;
const PRICE_PER_FRAME_MICROS = 500;

/** What K candidates of T steps cost: K·(T+1) frames (the start frame counts) at 500 µUSD. */
export const rolloutMicros = (k: number, t: number): number => k * (t + 1) * PRICE_PER_FRAME_MICROS;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

/** Polls until `probe` returns a value (not undefined), or fails naming `what`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Health {
  status: number;
  ready: boolean;
  state: string;
  checks: Record<string, string>;
  atMs: number;
}

export class Instance {
  child: ChildProcess | undefined;
  log = "";
  /** Resolves with how the process ended. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });
  private healthClient: HealthClient | undefined;

  constructor(
    readonly name: string,
    readonly env: NodeJS.ProcessEnv,
    readonly grpcPort: number,
    readonly httpPort: number,
    readonly dataDir: string,
  ) {}

  get httpBase(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }
  get grpcAddress(): string {
    return `127.0.0.1:${this.grpcPort}`;
  }
  get pid(): number {
    assert.ok(this.child?.pid, `${this.name} was never started`);
    return this.child.pid;
  }
  get alive(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts the process; does not wait for it. */
  spawn(): void {
    assert.ok(!this.alive, `${this.name} is already running`);
    this.log = "";
    const child = spawn(process.execPath, [...SERVER_NODE_ARGS], { cwd: REPO_ROOT, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    child.stdout!.on("data", (c: Buffer) => (this.log += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (this.log += c.toString()));
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /** Until /healthz answers 200 (models warm, ledger and store reachable). */
  async waitReady(timeoutMs = 150_000): Promise<void> {
    await waitFor(`${this.name} to become ready`, timeoutMs, async () => {
      if (!this.alive) throw new Error(`${this.name} exited (${this.child?.exitCode ?? this.child?.signalCode}) before it was ready:\n${this.logTail()}`);
      const h = await this.health().catch(() => undefined);
      return h?.ready ? true : undefined;
    }, 100);
  }

  async start(): Promise<void> {
    this.spawn();
    await this.waitReady();
  }

  /** Sends a signal to this process (by its pid). */
  signal(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }

  /** SIGKILL, then wait for the exit; a no-op when not running. */
  async kill(): Promise<void> {
    this.closeClients();
    if (!this.alive) return;
    const exited = this.exited;
    this.signal("SIGKILL");
    await exited;
  }

  async health(): Promise<Health> {
    const res = await fetch(`${this.httpBase}/healthz`);
    const body = (await res.json()) as { ready: boolean; status: string; checks: Record<string, string> };
    return { status: res.status, ready: body.ready, state: body.status, checks: body.checks, atMs: Date.now() };
  }

  /**
   * One health check. A failed check drops its channel: a grpc-js channel whose connect was refused
   * (the port not bound yet) backs off 1 s, 1.6 s, 2.6 s, … and fails every call fast meanwhile, so a
   * kept channel could miss a whole warming window that a new one answers in (a CI failure: no gRPC
   * answer while /healthz said 503).
   */
  grpcHealth(): Promise<Serving> {
    this.healthClient ??= new HealthClient(this.grpcAddress, grpc.credentials.createInsecure());
    const client = this.healthClient;
    return new Promise<Serving>((resolve, reject) => client.check({ service: "" }, new grpc.Metadata(), { deadline: Date.now() + 5_000 }, (err, res) => (err ? reject(err) : resolve(res.status)))).catch((err: unknown) => {
      if (this.healthClient === client) this.healthClient = undefined;
      client.close();
      throw err;
    });
  }

  /** A gRPC client without retries: tests assert the server's first answer. */
  client(apiKey: string): DreamClient {
    return new DreamClient({ address: this.grpcAddress, apiKey, retries: 0 });
  }

  async rest<T = any>(route: string, apiKey: string, init: RequestInit = {}): Promise<{ status: number; body: T; headers: Headers }> {
    const res = await fetch(`${this.httpBase}${route}`, { ...init, headers: { authorization: `Bearer ${apiKey}`, ...(init.headers as Record<string, string>) } });
    return { status: res.status, body: (await res.json()) as T, headers: res.headers };
  }

  /** The operator admin socket of this instance (its own data dir). */
  async admin(): Promise<AdminClient> {
    const client = await findRunningServer(this.dataDir);
    assert.ok(client, `${this.name} serves no admin socket:\n${this.logTail()}`);
    return client;
  }

  closeClients(): void {
    this.healthClient?.close();
    this.healthClient = undefined;
  }

  logTail(chars = 4000): string {
    return this.log.slice(-chars);
  }
}

export interface SharedBackend {
  label: string;
  databaseUrl: string;
  redisUrl: string;
  schema: string;
  prefix: string;
  /** Env every instance gets (besides its ports and data dir). */
  env: NodeJS.ProcessEnv;
  /** A BillingService of this test process on the shared schema and prefix, with no timers of its own. */
  billing(options?: { holdTtlMs?: number }): Promise<BillingService>;
  ledger(): Promise<LedgerBackend>;
  /** Rows from the shared ledger database. */
  query<R extends Row = Row>(sql: string, params?: unknown[]): Promise<R[]>;
  cleanup(): Promise<void>;
}

function baseEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ["DATABASE_URL", "REDIS_URL", "DREAM_PG_SCHEMA", "DREAM_REDIS_PREFIX", "DREAM_MODELS", "DREAM_HOLD_TTL_MS", "DREAM_EXECUTION_PROVIDER"]) delete env[k];
  return env;
}

/**
 * A private schema (created and migrated now, billing's tables and the jobs tables, so that instances
 * starting together only find them there) and a private key prefix on the given servers. With
 * `deleteRedisKeys` false the Redis belongs to the test (a private cluster) and is not cleaned key by key.
 */
export async function openSharedBackend(label: string, databaseUrl: string, redisUrl: string, options: { deleteRedisKeys?: boolean } = {}): Promise<SharedBackend> {
  const schema = uniqueName("inst_e2e");
  const prefix = `inst-e2e:${schema}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-inst-cfg-"));
  let ledger: LedgerBackend | undefined;
  const billing = async (o: { holdTtlMs?: number } = {}) => {
    const b = await createBilling({ databaseUrl, redisUrl, pgSchema: schema, redisPrefix: prefix, dataDir, holdTtlMs: o.holdTtlMs ?? 60_000, clock: systemClock, sweepIntervalMs: 0, reconcileIntervalMs: 0 });
    try {
      await b.start();
    } catch (err) {
      await b.close();
      throw err;
    }
    return b;
  };
  const first = await billing();
  try {
    await migrateJobs(first.sql!);
  } finally {
    await first.close();
  }
  const backend: SharedBackend = {
    label,
    databaseUrl,
    redisUrl,
    schema,
    prefix,
    env: { ...baseEnv(), DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, DREAM_PG_SCHEMA: schema, DREAM_REDIS_PREFIX: prefix },
    billing,
    ledger: () => openLedger({ databaseUrl, schema }),
    async query<R extends Row>(sql: string, params: unknown[] = []) {
      ledger ??= await openLedger({ databaseUrl, schema });
      return ledger.driver.query<R>(sql, params);
    },
    async cleanup() {
      await ledger?.close();
      const drop = await openLedger({ databaseUrl, schema, dropSchemaOnClose: true });
      await drop.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
      if (options.deleteRedisKeys === false) return;
      const { default: Redis } = await import("ioredis");
      const redis = new Redis(redisUrl, { lazyConnect: true });
      await redis.connect();
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 500);
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== "0");
      redis.disconnect();
    },
  };
  return backend;
}

/** Instances on `backend`, not started: each its own ports and data dir; `env` on top of the shared env. */
export async function makeInstances(backend: SharedBackend, names: string[], env: NodeJS.ProcessEnv = {}): Promise<Instance[]> {
  const out: Instance[] = [];
  for (const name of names) {
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `dream-inst-${name}-`));
    out.push(
      new Instance(name, {
        ...backend.env,
        DREAM_GRPC_ADDR: `127.0.0.1:${grpcPort}`,
        DREAM_HTTP_ADDR: `127.0.0.1:${httpPort}`,
        DREAM_DATA_DIR: dataDir,
        DREAM_MODELS: TINY,
        DREAM_LOG_LEVEL: "warn",
        DREAM_STARTER_CREDITS_USD: "0",
        DREAM_SHUTDOWN_GRACE_MS: "2000",
        ...env,
      }, grpcPort, httpPort, dataDir),
    );
  }
  return out;
}

export async function removeInstances(instances: Instance[]): Promise<void> {
  for (const i of instances) await i.kill();
  for (const i of instances) fs.rmSync(i.dataDir, { recursive: true, force: true });
}

export interface PredictOutcome {
  instance: string;
  transport: "grpc" | "rest";
  ok: boolean;
  /** gRPC: the ErrorInfo reason; REST: error.reason. */
  reason?: string;
  /** REST: the HTTP status; gRPC: the status code. */
  code?: number;
  frames?: number;
  costMicros?: number;
}

const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: testFrame(48, 64), height: 48, width: 64 };
let pngFrame: Buffer | undefined;

export interface PredictShape {
  k: number;
  t: number;
  numSteps: number;
  requestId?: string;
}

/** One PredictBatch over gRPC; never throws for a server's answer. */
export async function predictGrpc(instance: Instance, apiKey: string, shape: PredictShape): Promise<PredictOutcome> {
  const client = instance.client(apiKey);
  try {
    const candidates = Array.from({ length: shape.k }, (_, k) => packActions(testActions(shape.t, D, k), shape.t, D));
    const { response } = await client.predictBatch({ model: TINY, startFrame, candidates, params: { numSteps: shape.numSteps, seed: 7 }, requestId: shape.requestId ?? randomUUID() });
    return { instance: instance.name, transport: "grpc", ok: true, frames: Number(response.summary?.frames), costMicros: Number(response.summary?.cost?.micros) };
  } catch (err) {
    if (!(err instanceof DreamError)) throw err;
    return { instance: instance.name, transport: "grpc", ok: false, reason: err.reason, code: err.code };
  } finally {
    client.close();
  }
}

/** One JSON predict over REST (K = 1, RAW_RGB8 output); never throws for a server's answer. */
export async function predictRest(instance: Instance, apiKey: string, shape: PredictShape): Promise<PredictOutcome> {
  assert.equal(shape.k, 1, "REST predict is one rollout");
  pngFrame ??= await sharp(Buffer.from(startFrame.data), { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
  const actions = testActions(shape.t, D, 0);
  const body = {
    start_frame: { encoding: "PNG", data: pngFrame.toString("base64") },
    actions: { data: Buffer.from(actions.buffer, actions.byteOffset, actions.byteLength).toString("base64"), shape: [shape.t, D] },
    params: { num_steps: shape.numSteps, seed: 7 },
    output: { encoding: "RAW_RGB8" },
    request_id: shape.requestId ?? randomUUID(),
  };
  const r = await instance.rest(`/v1/models/${TINY}/predict`, apiKey, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  if (r.status === 200) return { instance: instance.name, transport: "rest", ok: true, code: 200, frames: Number(r.body.summary.frames), costMicros: Number(r.body.summary.cost.micros) };
  return { instance: instance.name, transport: "rest", ok: false, code: r.status, reason: r.body?.error?.reason };
}

/** A key made through an instance's admin socket (the operator's path), optionally with a rate policy. */
export async function adminKey(instance: Instance, creditsMicros: number, rateLimit?: { ratePerS: number; burst: number }): Promise<{ rawKey: string; keyId: string; customerId: string }> {
  const admin = await instance.admin();
  const key = await admin.createKey({ name: `inst-e2e-${randomUUID().slice(0, 8)}`, creditsMicros });
  if (rateLimit) await admin.setRateLimit(key.keyId, rateLimit);
  return key;
}

/** Each live instance's reconcile (ledger checks + its own store connection compared), all at once. */
export async function reconcileEverywhere(instances: Instance[], repair = false): Promise<ReconcileReport[]> {
  return Promise.all(instances.filter((i) => i.alive).map(async (i) => (await i.admin()).reconcile({ repair })));
}

/** `dream-engine ledger reconcile --json` (the operator CLI, straight to Postgres and Redis). */
export async function cliReconcile(backend: SharedBackend): Promise<{ code: number | null; report: ReconcileReport }> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-inst-cli-"));
  try {
    const r = await runChild(process.execPath, [path.join(REPO_ROOT, "bin", "dream-engine.js"), "ledger", "reconcile", "--dry-run", "--json"], { ...backend.env, DREAM_DATA_DIR: dataDir });
    let report: ReconcileReport;
    try {
      report = JSON.parse(r.stdout) as ReconcileReport;
    } catch {
      throw new Error(`the CLI printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
    }
    return { code: r.code, report };
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The ledger's own view of one customer: balance, held, and its entries by kind. */
export async function ledgerCustomer(backend: SharedBackend, customerId: string): Promise<{ balanceMicros: number; heldMicros: number; entries: { kind: string; amountMicros: number; requestId: string | null }[] }> {
  const [c] = await backend.query<{ balance_micros: unknown }>("SELECT balance_micros FROM billing_customers WHERE customer_id = $1", [customerId]);
  const [h] = await backend.query<{ held: unknown }>("SELECT coalesce(sum(h.amount_micros), 0) AS held FROM billing_open_holds o JOIN billing_holds h USING (request_id) WHERE h.customer_id = $1", [customerId]);
  const entries = await backend.query<{ kind: string; amount_micros: unknown; request_id: string | null }>("SELECT kind, amount_micros, request_id FROM billing_entries WHERE customer_id = $1 ORDER BY seq", [customerId]);
  return { balanceMicros: Number(c?.balance_micros), heldMicros: Number(h?.held), entries: entries.map((e) => ({ kind: e.kind, amountMicros: Number(e.amount_micros), requestId: e.request_id })) };
}

export { Serving };
