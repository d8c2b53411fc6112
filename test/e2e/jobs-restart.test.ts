// The "must show" for durable batch jobs, against the real server as a child process
// (node --import tsx src/main.ts) on a private data dir (embedded ledger on disk): a 200-row job on the
// tiny model shows progress through GetJob, survives a SIGKILL mid-job (rows in flight), resumes and
// finishes after a restart with every row in the sink exactly once (files and results.jsonl lines),
// the ledger's charges equal exactly rows × K·(T+1) × 500 micros with no hold left open, and a second
// job with a budget cap stops at it (JOB_BUDGET_EXHAUSTED, charges ≤ budget).
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { openLedger } from "../../src/billing/ledger/open";
import { REPO_ROOT, sleep, testActions, testFrame } from "./harness";

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
    const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], { cwd: REPO_ROOT, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
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

describe("e2e: batch jobs survive a SIGKILL and resume exactly once (child server)", function () {
  this.timeout(240_000);
  let dataDir: string;
  let server: Server;
  let key: string;
  const api = async <T>(p: string, init: RequestInit = {}): Promise<{ status: number; body: T }> => {
    const res = await fetch(`${server.httpBase}${p}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers as Record<string, string>) } });
    return { status: res.status, body: (await res.json()) as T };
  };
  const getJob = async (id: string) => {
    const r = await api<JobJson>(`/v1/jobs/${id}`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const terminal = (j: JobJson) => j.state !== "JOB_PENDING" && j.state !== "JOB_RUNNING";

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-jobs-restart-"));
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = { ...process.env, DREAM_GRPC_ADDR: `127.0.0.1:${grpcPort}`, DREAM_HTTP_ADDR: `127.0.0.1:${httpPort}`, DREAM_DATA_DIR: dataDir, DREAM_MODELS: TINY, DREAM_LOG_LEVEL: "warn", DREAM_STARTER_CREDITS_USD: String(STARTER_USD), DREAM_SHUTDOWN_GRACE_MS: "2000", DREAM_JOB_LEASE_MS: "2000", DREAM_ADMIN_SOCKET: "off" };
    // A private embedded ledger: this test owns every byte of its database.
    delete env.DATABASE_URL;
    delete env.REDIS_URL;
    delete env.DREAM_PG_SCHEMA;
    server = new Server(env, `http://127.0.0.1:${httpPort}`);
    await server.start();
    key = fs.readFileSync(path.join(dataDir, "starter-key.txt"), "utf8").trim();
  });
  after(async () => {
    await server?.stop("SIGKILL");
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs 200 rows through a SIGKILL and a restart: progress, resume, each row once, exact charges; then a budget cap", async () => {
    const png = await sharp(Buffer.from(testFrame(48, 64)), { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
    const head = JSON.stringify({ model: TINY, sink: { dir: "out/big" }, job_id: "big" });
    const lines = Array.from({ length: ROWS }, (_, i) => JSON.stringify({ start_frame: { encoding: "PNG", data: png.toString("base64") }, actions: { data: Buffer.from(testActions(T, D, i).buffer).toString("base64"), shape: [T, D] } }));
    const created = await api<JobJson>("/v1/jobs", { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: [head, ...lines].join("\n") });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal(created.body.rows_total, ROWS);

    // Progress through GetJob, rising while it runs; the kill lands while rows are in flight.
    const seen: number[] = [];
    for (;;) {
      const j = await getJob("big");
      assert.ok(!terminal(j), `the job ended before the kill: ${JSON.stringify(j)}`);
      if (seen.length === 0 || j.rows_done !== seen[seen.length - 1]) seen.push(j.rows_done);
      if (j.rows_done >= 30 && j.rows_running > 0 && seen.length >= 3) break;
      await sleep(50);
    }
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `rows_done went ${seen.join(" → ")}`);
    await server.stop("SIGKILL");

    await server.start();
    let job = await getJob("big");
    assert.ok(job.rows_done >= seen[seen.length - 1]!, "rows recorded done before the kill stay done");
    while (!terminal(job)) {
      await sleep(200);
      job = await getJob("big");
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
    const results = fs.readFileSync(path.join(sink, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as { row: number; name: string; state: string; frames: number; cost_micros: number; request_id: string });
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

    // The ledger itself, once the server is gone: one posted charge per row, no hold open.
    await server.stop("SIGTERM");
    const ledger = await openLedger({ dataDir });
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
});
