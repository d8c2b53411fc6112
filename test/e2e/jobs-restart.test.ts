// The "must show" for durable batch jobs, against the real server as a child process
// (node --import tsx src/main.ts): a 200-row job on the tiny model shows progress through GetJob,
// survives a SIGKILL mid-job (rows in flight), resumes and finishes after a restart with every row in
// the sink exactly once (files and results.jsonl lines), the ledger's charges equal exactly
// rows × K·(T+1) × 500 micros with no hold left open, and a second job with a budget cap stops at it
// (JOB_BUDGET_EXHAUSTED, charges ≤ budget).
//
// Twice: on a private data dir (embedded ledger on disk, one instance), and — when DATABASE_URL and
// REDIS_URL are set (an unreachable one fails) — two instances on one private Postgres schema and Redis
// prefix sharing the job, one of them killed and restarted while the other keeps going.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { createBilling } from "../../src/billing";
import { openLedger, type LedgerBackend } from "../../src/billing/ledger/open";
import { systemClock } from "../../src/core/clock";
import { SERVER_NODE_ARGS } from "../../src/core/node-flags";
import { DATABASE_URL, REDIS_URL, describeWithEnv, uniqueName } from "../billing/helpers/env";
import { REPO_ROOT, sleep, testActions, testFrame, until } from "./harness";

const TINY = "dream-reference-tiny";
const T = 8;
const D = 384;
const ROWS = 200;
const FRAMES_PER_ROW = 1 * (T + 1);
const PRICE_PER_FRAME = 500;
const ROW_MICROS = FRAMES_PER_ROW * PRICE_PER_FRAME;
const STARTER_USD = 100;

interface JobJson {
  job_id: string;
  state: string;
  rows_total: number;
  rows_done: number;
  rows_failed: number;
  rows_pending: number;
  rows_running: number;
  frames: string | number;
  cost: { micros: string | number };
  error: string;
}

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

class Server {
  child: ChildProcess | undefined;
  log = "";
  constructor(private readonly env: NodeJS.ProcessEnv, readonly httpBase: string) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, [...SERVER_NODE_ARGS], { cwd: REPO_ROOT, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    child.stdout!.on("data", (c: Buffer) => (this.log += c.toString()));
    child.stderr!.on("data", (c: Buffer) => (this.log += c.toString()));
    for (;;) {
      if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${this.log.slice(-4000)}`);
      const ok = await fetch(`${this.httpBase}/healthz`).then((r) => r.status === 200, () => false);
      if (ok) return;
      await sleep(100);
    }
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    child.kill(signal);
    await exited;
  }
}


interface Backend {
  /** Env for every instance (besides ports and data dir). */
  env: NodeJS.ProcessEnv;
  instances: number;
  /** An API key with STARTER_USD of credits, once the first instance is up. */
  key(dataDir: string): Promise<string>;
  ledger(dataDir: string): Promise<LedgerBackend>;
  cleanup(): Promise<void>;
}

function jobsScenario(backend: () => Backend): void {
  describe("200 rows, a SIGKILL, a restart, a budget cap", function () {
    this.timeout(240_000);
    scenario(backend);
  });
}

function scenario(backend: () => Backend): void {
  let dataDir: string;
  let servers: Server[] = [];
  let key: string;
  let be: Backend;
  const api = async <T>(p: string, init: RequestInit = {}, server = servers[servers.length - 1]!): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${server.httpBase}${p}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) } });
    return { status: res.status, body: (await res.json()) as T };
  };
  const getJob = async (id: string, server?: Server) => {
    const r = await api<JobJson>(`/v1/jobs/${id}`, {}, server);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const terminal = (j: JobJson) => j.state !== "JOB_PENDING" && j.state !== "JOB_RUNNING";

  before(async () => {
    be = backend();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-jobs-restart-"));
    for (let i = 0; i < be.instances; i++) {
      const [grpcPort, httpPort] = [await freePort(), await freePort()];
      const env: NodeJS.ProcessEnv = { ...be.env, DREAM_GRPC_ADDR: `127.0.0.1:${grpcPort}`, DREAM_HTTP_ADDR: `127.0.0.1:${httpPort}`, DREAM_DATA_DIR: dataDir, DREAM_MODELS: TINY, DREAM_LOG_LEVEL: "warn", DREAM_STARTER_CREDITS_USD: String(STARTER_USD), DREAM_SHUTDOWN_GRACE_MS: "2000", DREAM_JOB_LEASE_MS: "2000", DREAM_ADMIN_SOCKET: "off" };
      servers.push(new Server(env, `http://127.0.0.1:${httpPort}`));
    }
    // One first: two servers creating a fresh Postgres schema at once race in CREATE SCHEMA IF NOT EXISTS.
    await servers[0]!.start();
    await Promise.all(servers.slice(1).map((s) => s.start()));
    key = await be.key(dataDir);
  });
  after(async () => {
    for (const s of servers) await s.stop("SIGKILL");
    servers = [];
    await be?.cleanup();
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs 200 rows through a SIGKILL and a restart: progress, resume, each row once, exact charges; then a budget cap", async () => {
    const victim = servers[0]!;
    const png = await sharp(Buffer.from(testFrame(48, 64)), { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
    const head = JSON.stringify({ model: TINY, sink: { dir: "out/big" }, job_id: "big" });
    const lines = Array.from({ length: ROWS }, (_, i) => JSON.stringify({ start_frame: { encoding: "PNG", data: png.toString("base64") }, actions: { data: Buffer.from(testActions(T, D, i).buffer).toString("base64"), shape: [T, D] } }));
    const created = await api<JobJson>("/v1/jobs", { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: [head, ...lines].join("\n") }, victim);
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.body.rows_total, ROWS);

    // Progress through GetJob, rising while it runs; the kill lands while rows are in flight.
    const seen: number[] = [];
    for (;;) {
      const j = await getJob("big", victim);
      assert.ok(!terminal(j), `the job ended before the kill: ${JSON.stringify(j)}`);
      if (seen.length === 0 || j.rows_done !== seen[seen.length - 1]) seen.push(j.rows_done);
      if (j.rows_done >= 30 && j.rows_running > 0 && seen.length >= 3) break;
      await sleep(50);
    }
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `rows_done went ${seen.join(" → ")}`);
    await victim.stop("SIGKILL");

    await victim.start();
    let job = await getJob("big", victim);
    assert.ok(job.rows_done >= seen[seen.length - 1]!, "rows recorded done before the kill stay done");
    while (!terminal(job)) {
      await sleep(200);
      job = await getJob("big", victim);
    }
    assert.equal(job.state, "JOB_SUCCEEDED", job.error);
    assert.equal(job.rows_done, ROWS);
    assert.equal(Number(job.frames), ROWS * FRAMES_PER_ROW);
    assert.equal(Number(job.cost.micros), ROWS * ROW_MICROS);

    // The sink: every row's file once, and results.jsonl one line per row.
    const sink = path.join(dataDir, "jobs", "out", "big");
    const videos = fs.readdirSync(sink).filter((f) => f.endsWith(".mp4") && !f.startsWith("."));
    const names = Array.from({ length: ROWS }, (_, i) => String(i).padStart(6, "0"));
    assert.deepEqual(videos.sort(), names.map((n) => `${n}.mp4`));
    for (const v of videos) assert.ok(fs.statSync(path.join(sink, v)).size > 0, `${v} is empty`);
    // The last writer may be another instance: wait for its rewrite to land before reading.
    const readResults = () => fs.readFileSync(path.join(sink, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { row: number; name: string; state: string; frames: number; cost_micros: number; request_id: string });
    for (let i = 0; i < 50 && !readResults().every((r) => r.state === "done"); i++) await sleep(100);
    const results = readResults();
    assert.deepEqual(results.map((r) => r.row), names.map((_, i) => i));
    assert.ok(results.every((r) => r.state === "done" && r.frames === FRAMES_PER_ROW && r.cost_micros === ROW_MICROS));

    // Money through the API: exactly the rows' price, nothing still held.
    const balance = await api<{ balance_micros: string | number; held_micros: string | number }>("/v1/billing/balance");
    assert.equal(STARTER_USD * 1_000_000 - Number(balance.body.balance_micros), ROWS * ROW_MICROS);
    assert.equal(Number(balance.body.held_micros ?? 0), 0);

    // A second job with a budget cap stops at it: rows start only while charges + holds fit.
    const budget = 11 * ROW_MICROS + ROW_MICROS / 2;
    const capped = await api<JobJson>("/v1/jobs", { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: [JSON.stringify({ model: TINY, sink: { dir: "out/capped" }, job_id: "capped", budget_micros: budget }), ...lines.slice(0, 40)].join("\n") });
    assert.equal(capped.status, 200, JSON.stringify(capped.body));
    let cj = await getJob("capped");
    while (!terminal(cj)) {
      await sleep(100);
      cj = await getJob("capped");
    }
    assert.equal(cj.state, "JOB_BUDGET_EXHAUSTED", JSON.stringify(cj));
    assert.ok(Number(cj.cost.micros) <= budget, `charged ${cj.cost.micros} over the budget ${budget}`);
    assert.equal(cj.rows_done, 11);
    assert.equal(cj.rows_pending, 29);
    assert.match(cj.error, /budget/);

    // The ledger itself, once the servers are gone: one posted charge per row, no hold open.
    for (const s of servers) await s.stop("SIGTERM");
    const ledger = await be.ledger(dataDir);
    try {
      const [big] = await ledger.driver.query<{ n: unknown; captured: unknown }>(`SELECT count(*) AS n, coalesce(sum(captured_micros), 0) AS captured FROM billing_settlements WHERE outcome = 'posted' AND request_id LIKE '%/job-big-row-%'`);
      assert.equal(Number(big!.n), ROWS, "one posted charge per row");
      assert.equal(Number(big!.captured), ROWS * ROW_MICROS);
      const [cap] = await ledger.driver.query<{ captured: unknown }>(`SELECT coalesce(sum(captured_micros), 0) AS captured FROM billing_settlements WHERE outcome = 'posted' AND request_id LIKE '%/job-capped-row-%'`);
      assert.equal(Number(cap!.captured), 11 * ROW_MICROS);
      const open = await ledger.driver.query(`SELECT h.request_id FROM billing_holds h LEFT JOIN billing_settlements s USING (request_id) WHERE s.request_id IS NULL`);
      assert.deepEqual(open, [], "no hold left open");
    } finally {
      await ledger.close();
    }
  });
}

function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DATABASE_URL;
  delete env.REDIS_URL;
  delete env.DREAM_PG_SCHEMA;
  delete env.DREAM_REDIS_PREFIX;
  return env;
}

describe("e2e: batch jobs survive a SIGKILL and resume exactly once (child server, embedded ledger)", function () {
  jobsScenario(() => ({
    // A private embedded ledger: this test owns every byte of its database.
    env: childEnv(),
    instances: 1,
    key: async (dataDir) => {
      // main.ts writes the starter key after startApp has the HTTP port answering /healthz.
      const file = path.join(dataDir, "starter-key.txt");
      await until(() => fs.existsSync(file));
      return fs.readFileSync(file, "utf8").trim();
    },
    ledger: (dataDir) => openLedger({ dataDir }),
    cleanup: async () => {},
  }));
});

describeWithEnv("DATABASE_URL", DATABASE_URL, "e2e: batch jobs shared by two instances on one Postgres, one killed and restarted (child servers)", (url) => {
  describeWithEnv("REDIS_URL", REDIS_URL, "with Redis balances", (redisUrl) => {
    jobsScenario(() => {
      const schema = uniqueName("jobs_e2e");
      const prefix = `jobs-e2e:${schema}`;
      return {
        env: { ...childEnv(), DATABASE_URL: url, REDIS_URL: redisUrl, DREAM_PG_SCHEMA: schema, DREAM_REDIS_PREFIX: prefix },
        instances: 2,
        key: async (dataDir) => {
          const billing = await createBilling({ databaseUrl: url, redisUrl, pgSchema: schema, redisPrefix: prefix, dataDir, holdTtlMs: 60_000, clock: systemClock, sweepIntervalMs: 0, reconcileIntervalMs: 0 });
          try {
            return (await billing.createKey({ name: "jobs-e2e", creditsMicros: STARTER_USD * 1_000_000 })).rawKey;
          } finally {
            await billing.close();
          }
        },
        ledger: () => openLedger({ databaseUrl: url, schema }),
        cleanup: async () => {
          const ledger = await openLedger({ databaseUrl: url, schema, dropSchemaOnClose: true });
          await ledger.close();
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
    });
  });
});
