// Batch jobs end to end in-process (startHarness: tiny 48x64 model, embedded ledger): uploaded rows
// over gRPC and REST (JSON and NDJSON), a source directory, sink layouts, results.jsonl, up-front
// validation that creates nothing, 402 before any work, per-customer isolation, cancel and idempotency.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import sharp from "sharp";
import { encodeNpy } from "../../src/codec";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import { JobState, type Job } from "../../src/gen/dream/v1/jobs";
import { DreamClient } from "../../clients/typescript/src";
import { limits } from "../../src/core/limits";
import type { JobsSql } from "../../src/jobs/sql";
import { JobStore } from "../../src/jobs/store";
import { failingOnRowStatement } from "../jobs/failing-sql";
import { startHarness, testActions, testFrame, until, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const H = 48;
const W = 64;
const D = 384;
const T = 8;
const PRICE = 500;

async function png(): Promise<Buffer> {
  return sharp(Buffer.from(testFrame(H, W)), { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
}

function actionsBytes(k: number, steps = T): Buffer {
  const parts = Array.from({ length: k }, (_, i) => Buffer.from(testActions(steps, D, i).buffer));
  return Buffer.concat(parts);
}

const terminal = (j: Job) => ![JobState.JOB_PENDING, JobState.JOB_RUNNING].includes(j.state);

async function waitJob(client: DreamClient, jobId: string): Promise<Job> {
  let job = await client.getJob(jobId);
  while (!terminal(job)) {
    await new Promise((r) => setTimeout(r, 100));
    job = await client.getJob(jobId);
  }
  return job;
}

function resultLines(sink: string): Array<Record<string, unknown>> {
  return fs
    .readFileSync(path.join(sink, "results.jsonl"), "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe("e2e: batch jobs (in-process)", function () {
  this.timeout(120_000);
  let h: Harness;
  let frame: Buffer;
  let jobsRoot: string;
  const rest = (p: string, init: RequestInit & { key?: string } = {}) =>
    fetch(`${h.httpBase}${p}`, { ...init, headers: { authorization: `Bearer ${init.key ?? h.apiKey}`, ...(init.headers as Record<string, string>) } });

  before(async () => {
    h = await startHarness();
    frame = await png();
    jobsRoot = h.app.config.jobsDir;
  });
  after(async () => h?.stop());

  it("runs uploaded rows over gRPC into <name>.mp4 files, results.jsonl and exact charges", async () => {
    const before = await h.balanceOf(h.customerId);
    const rows = Array.from({ length: 3 }, (_, i) => ({ name: `clip${i}`, startFrame: { encoding: FrameEncoding.PNG, data: frame, height: 0, width: 0 }, actions: { data: actionsBytes(1), shape: [T, D] } }));
    const created = await h.client.createJob({ model: TINY, source: { source: { $case: "rows", value: { rows } } }, sink: { dir: "grpc-out" }, jobId: "grpc-job-1" });
    assert.equal(created.jobId, "grpc-job-1");
    assert.equal(created.rowsTotal, 3);
    const job = await waitJob(h.client, "grpc-job-1");
    assert.equal(job.state, JobState.JOB_SUCCEEDED, job.error);
    assert.equal(job.rowsDone, 3);
    assert.equal(job.frames, 3 * (T + 1));
    assert.equal(job.cost!.micros, 3 * (T + 1) * PRICE);
    const sink = path.join(jobsRoot, "grpc-out");
    for (let i = 0; i < 3; i++) assert.ok(fs.statSync(path.join(sink, `clip${i}.mp4`)).size > 0);
    const lines = resultLines(sink);
    assert.deepEqual(lines.map((l) => [l.row, l.name, l.request_id, l.frames, l.cost_micros, l.state]), [0, 1, 2].map((i) => [i, `clip${i}`, `job-grpc-job-1-row-${i}`, T + 1, (T + 1) * PRICE, "done"]));
    const after = await h.balanceOf(h.customerId);
    assert.equal(before.balanceMicros - after.balanceMicros, 3 * (T + 1) * PRICE);
    // Idempotent: the same id returns the job, nothing new runs.
    const again = await h.client.createJob({ model: TINY, source: { source: { $case: "rows", value: { rows } } }, sink: { dir: "elsewhere" }, jobId: "grpc-job-1" });
    assert.equal(again.sinkDir, "grpc-out");
    assert.equal(again.state, JobState.JOB_SUCCEEDED);
  });

  it("a create that stopped part-way leaves a job that cannot end; the same create again finishes it, a different one under its id is refused", async () => {
    const n = 20; // row statements of 8, 8 and 4: the second fails, as a lost connection would
    const rows = Array.from({ length: n }, (_, i) => ({ name: `p${i}`, startFrame: { encoding: FrameEncoding.PNG, data: frame, height: 0, width: 0 }, actions: { data: actionsBytes(1), shape: [T, D] } }));
    const req = { model: TINY, source: { source: { $case: "rows" as const, value: { rows } } }, sink: { dir: "partway-out" }, jobId: "partway-1" };
    const before = await h.balanceOf(h.customerId);
    const original = JobStore.prototype.createJob;
    JobStore.prototype.createJob = function (this: JobStore, job) {
      const sql = (this as unknown as { sql: JobsSql }).sql;
      return original.call(new JobStore(failingOnRowStatement(sql, 2)), job);
    };
    try {
      await assert.rejects(h.client.createJob(req), (err: Error & { reason?: string }) => err.reason === "INTERNAL");
    } finally {
      JobStore.prototype.createJob = original;
    }
    // The 8 rows that were written run; the job stays open for the 12 that were not.
    await until(async () => (await h.client.getJob("partway-1")).rowsDone === 8, 50);
    assert.equal((await h.client.getJob("partway-1")).rowsTotal, n);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!terminal(await h.client.getJob("partway-1")), "a job missing rows must not end");
    await assert.rejects(h.client.createJob({ ...req, sink: { dir: "elsewhere" } }), (err: Error & { reason?: string }) => {
      assert.equal(err.reason, "INVALID_ARGUMENT");
      assert.match(err.message, /job_id/);
      return true;
    });
    const again = await h.client.createJob(req);
    assert.equal(again.rowsTotal, n);
    const job = await waitJob(h.client, "partway-1");
    assert.equal(job.state, JobState.JOB_SUCCEEDED, job.error);
    assert.deepEqual([job.rowsDone, job.frames, job.cost!.micros], [n, n * (T + 1), n * (T + 1) * PRICE]);
    assert.deepEqual(resultLines(path.join(jobsRoot, "partway-out")).map((l) => l.name), rows.map((r) => r.name), "every row in the sink exactly once");
    assert.equal(before.balanceMicros - (await h.balanceOf(h.customerId)).balanceMicros, n * (T + 1) * PRICE);
  });

  it("rewrites results.jsonl at most every jobResultsWriteIntervalMs while rows run (not twice per row), and completely before the job ends", async () => {
    const n = 30;
    const original = JobStore.prototype.rows;
    let reads = 0;
    JobStore.prototype.rows = function (this: JobStore, ...args: Parameters<JobStore["rows"]>) {
      reads++;
      return original.apply(this, args);
    };
    try {
      const rows = Array.from({ length: n }, (_, i) => ({ name: `t${i}`, startFrame: { encoding: FrameEncoding.PNG, data: frame, height: 0, width: 0 }, actions: { data: actionsBytes(1), shape: [T, D] } }));
      await h.client.createJob({ model: TINY, source: { source: { $case: "rows", value: { rows } } }, sink: { dir: "throttled-out" }, jobId: "throttled-1" });
      const t0 = performance.now();
      const job = await waitJob(h.client, "throttled-1");
      const seconds = (performance.now() - t0) / 1000;
      assert.equal(job.state, JobState.JOB_SUCCEEDED, job.error);
      assert.equal(resultLines(path.join(jobsRoot, "throttled-out")).length, n, "every row's line is there when the job reads as ended");
      // Each write reads the rows twice (write, then a convergence check); one write per interval
      // while the job ran, and the final one. Before the throttle: 2 reads per row (60 here).
      const writesAllowed = Math.ceil((seconds * 1000) / limits.jobResultsWriteIntervalMs) + 2;
      assert.ok(reads <= 2 * writesAllowed && reads < 2 * n, `${reads} full reads of the job's rows for ${n} rows in ${seconds.toFixed(1)} s`);
    } finally {
      JobStore.prototype.rows = original;
    }
  });

  it("takes NDJSON uploads over REST and writes per-frame PNGs per candidate", async () => {
    const head = JSON.stringify({ model: TINY, sink: { dir: "ndjson-out" }, output: { encoding: "PNG" }, job_id: "nd-1" });
    const rows = [0, 1].map((i) => JSON.stringify({ name: `r${i}`, start_frame: { encoding: "PNG", data: frame.toString("base64") }, actions: { data: actionsBytes(2).toString("base64"), shape: [2, T, D] } }));
    const res = await rest("/v1/jobs", { method: "POST", headers: { "content-type": "application/x-ndjson" }, body: [head, ...rows].join("\n") + "\n" });
    assert.equal(res.status, 200, await res.clone().text());
    const body = (await res.json()) as { job_id: string; rows_total: number };
    assert.equal(body.job_id, "nd-1");
    assert.equal(body.rows_total, 2);
    const job = await waitJob(h.client, "nd-1");
    assert.equal(job.state, JobState.JOB_SUCCEEDED, job.error);
    assert.equal(job.frames, 2 * 2 * (T + 1));
    const sink = path.join(jobsRoot, "ndjson-out");
    for (const r of ["r0", "r1"]) for (const c of ["c0", "c1"]) assert.equal(fs.readdirSync(path.join(sink, r, c)).filter((f) => f.endsWith(".png")).length, T + 1);
    assert.equal(fs.readFileSync(path.join(sink, "r0", "c0", "0000.png")).subarray(1, 4).toString(), "PNG");
    // GET and LIST over REST.
    const got = (await (await rest("/v1/jobs/nd-1")).json()) as { state: string; rows_done: number };
    assert.equal(got.state, "JOB_SUCCEEDED");
    assert.equal(got.rows_done, 2);
    const list = (await (await rest("/v1/jobs?limit=500")).json()) as { jobs: Array<{ job_id: string }> };
    assert.equal(list.jobs[0]!.job_id, "nd-1", "newest first");
  });

  it("runs a source directory (folders, then a manifest) and answers JSON uploads", async () => {
    const dir = path.join(jobsRoot, "src-a");
    for (const name of ["b", "a"]) {
      fs.mkdirSync(path.join(dir, name), { recursive: true });
      fs.writeFileSync(path.join(dir, name, "start.png"), frame);
      fs.writeFileSync(path.join(dir, name, "actions.npy"), encodeNpy(testActions(T, D, 3), [T, D]));
    }
    const job = await waitJob(h.client, (await h.client.createJob({ model: TINY, source: { source: { $case: "dir", value: "src-a" } }, sink: { dir: "dir-out" } })).jobId);
    assert.equal(job.state, JobState.JOB_SUCCEEDED, job.error);
    assert.deepEqual(resultLines(path.join(jobsRoot, "dir-out")).map((l) => l.name), ["a", "b"], "rows are the folders sorted by name");

    const mdir = path.join(jobsRoot, "src-m");
    fs.mkdirSync(mdir, { recursive: true });
    fs.writeFileSync(path.join(mdir, "f.png"), frame);
    fs.writeFileSync(path.join(mdir, "a.npy"), encodeNpy(testActions(T, D, 1), [T, D]));
    fs.writeFileSync(path.join(mdir, "manifest.jsonl"), `${JSON.stringify({ name: "m0", start: "f.png", actions: "a.npy" })}\n`);
    const res = await rest("/v1/jobs", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ model: TINY, source: { dir: "src-m" }, sink: { dir: "m-out" }, output: { encoding: "JPEG" } }) });
    assert.equal(res.status, 200, await res.clone().text());
    const mj = await waitJob(h.client, ((await res.json()) as { job_id: string }).job_id);
    assert.equal(mj.state, JobState.JOB_SUCCEEDED, mj.error);
    assert.equal(fs.readdirSync(path.join(jobsRoot, "m-out", "m0", "c0")).length, T + 1);
  });

  it("validates every row and path up front: a clear 400 naming the field, and nothing is created", async () => {
    const fresh = await h.newKey(10);
    const client = new DreamClient({ address: h.grpcAddress, apiKey: fresh.rawKey, retries: 0 });
    try {
      const good = { startFrame: { encoding: FrameEncoding.PNG, data: frame, height: 0, width: 0 }, actions: { data: actionsBytes(1), shape: [T, D] } };
      const bad = { ...good, actions: { data: actionsBytes(1), shape: [T, 7] } };
      const cases: Array<[string, Record<string, unknown>, RegExp]> = [
        ["source.rows[1].actions", { source: { source: { $case: "rows", value: { rows: [good, bad] } } }, sink: { dir: "x" } }, /source\.rows\[1\]\.actions/],
        ["source.rows[0].start_frame", { source: { source: { $case: "rows", value: { rows: [{ ...good, startFrame: { encoding: FrameEncoding.PNG, data: Buffer.from("nope"), height: 0, width: 0 } }] } } }, sink: { dir: "x" } }, /source\.rows\[0\]\.start_frame/],
        ["sink.dir absolute", { source: { source: { $case: "rows", value: { rows: [good] } } }, sink: { dir: "/etc" } }, /sink\.dir/],
        ["sink.dir escape", { source: { source: { $case: "rows", value: { rows: [good] } } }, sink: { dir: "a/../../x" } }, /sink\.dir/],
        ["source.dir escape", { source: { source: { $case: "dir", value: "../" } }, sink: { dir: "x" } }, /source\.dir/],
      ];
      for (const [name, req, message] of cases) {
        await assert.rejects(client.createJob({ model: TINY, ...(req as object) }), (err: Error & { reason?: string }) => {
          assert.equal(err.reason, "INVALID_ARGUMENT", name);
          assert.match(err.message, message, name);
          return true;
        });
      }
      assert.deepEqual(await client.listJobs(), []);
      assert.equal((await h.balanceOf(fresh.customerId)).balanceMicros, 10_000_000);
    } finally {
      client.close();
    }
  });

  it("answers 402 up front when the balance cannot cover one row, and hides other customers' jobs", async () => {
    const broke = await h.newKey(0);
    const body = JSON.stringify({ model: TINY, sink: { dir: "poor" } });
    const row = JSON.stringify({ start_frame: { encoding: "PNG", data: frame.toString("base64") }, actions: { data: actionsBytes(1).toString("base64"), shape: [T, D] } });
    const res = await rest("/v1/jobs", { key: broke.rawKey, method: "POST", headers: { "content-type": "application/x-ndjson" }, body: `${body}\n${row}\n` });
    assert.equal(res.status, 402);
    assert.equal(((await res.json()) as { error: { reason: string } }).error.reason, "INSUFFICIENT_CREDITS");
    const other = await rest("/v1/jobs/grpc-job-1", { key: broke.rawKey });
    assert.equal(other.status, 404);
    assert.equal((await rest("/v1/jobs/grpc-job-1", { key: broke.rawKey, method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status, 405);
    assert.equal((await rest("/v1/jobs/grpc-job-1:cancel", { key: broke.rawKey, method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status, 404);
    assert.equal((await fetch(`${h.httpBase}/v1/jobs`)).status, 401);
  });

  it("stops with JOB_BUDGET_EXHAUSTED when the balance runs out mid-job, charging only the rows that ran", async () => {
    const rowMicros = (T + 1) * PRICE;
    const poor = await h.newKey((3 * rowMicros + rowMicros / 2) / 1_000_000); // three rows and a half
    const client = new DreamClient({ address: h.grpcAddress, apiKey: poor.rawKey, retries: 0 });
    try {
      const rows = Array.from({ length: 10 }, () => ({ startFrame: { encoding: FrameEncoding.PNG, data: frame, height: 0, width: 0 }, actions: { data: actionsBytes(1), shape: [T, D] } }));
      const id = (await client.createJob({ model: TINY, source: { source: { $case: "rows", value: { rows } } }, sink: { dir: "poor-out" } })).jobId;
      await waitJob(client, id);
      // The job stops at once; rows already in flight finish and post.
      await until(async () => (await client.getJob(id)).rowsRunning === 0, 50);
      const job = await client.getJob(id);
      assert.equal(job.state, JobState.JOB_BUDGET_EXHAUSTED, JSON.stringify(job));
      assert.match(job.error, /INSUFFICIENT_CREDITS|balance/);
      assert.equal(job.rowsDone, 3);
      assert.equal(job.rowsPending, 7);
      assert.equal(job.cost!.micros, 3 * rowMicros);
      assert.equal((await h.balanceOf(poor.customerId)).balanceMicros, rowMicros / 2);
    } finally {
      client.close();
    }
  });

  it("cancels a job: pending rows never start, the job says CANCELLED, charges match the rows' own", async () => {
    const rows = Array.from({ length: 40 }, () => ({ startFrame: { encoding: FrameEncoding.PNG, data: frame, height: 0, width: 0 }, actions: { data: actionsBytes(1, 48), shape: [48, D] } }));
    const job = await h.client.createJob({ model: TINY, source: { source: { $case: "rows", value: { rows } } }, sink: { dir: "cancel-out" }, jobId: "to-cancel" });
    await until(async () => (await h.client.getJob(job.jobId)).rowsRunning > 0 || (await h.client.getJob(job.jobId)).rowsDone > 0);
    const cancelled = await h.client.cancelJob(job.jobId);
    assert.equal(cancelled.state, JobState.JOB_CANCELLED);
    await until(async () => (await h.client.getJob(job.jobId)).rowsRunning === 0, 50);
    const final = await h.client.getJob(job.jobId);
    assert.equal(final.state, JobState.JOB_CANCELLED);
    assert.ok(final.rowsPending > 0, "pending rows never started");
    // A row's end is recorded, then results.jsonl is rewritten: wait for the last rewrite.
    await until(() => fs.existsSync(path.join(jobsRoot, "cancel-out", "results.jsonl")) && !resultLines(path.join(jobsRoot, "cancel-out")).some((l) => l.state === "running"), 50);
    const lines = resultLines(path.join(jobsRoot, "cancel-out"));
    assert.equal(lines.length, 40);
    const charged = lines.reduce((s, l) => s + (l.cost_micros as number), 0);
    assert.equal(final.cost!.micros, charged);
  });
});
