// `npm run bench:jobs-ledger`: how long other ledger work waits while a job of uploaded rows is created
// on the embedded ledger (PGlite in its thread: one Postgres session, so statements run one at a time
// and an open transaction holds everyone else). A tiny statement, standing in for a control loop's
// hold or settlement, is sent every 5 ms while a job of --rows rows of 82 KB (a 48x64 start frame and
// 48 x 384 float32 actions, the tiny model's upload) is created, two ways, alternating:
//   - "one transaction": the job and all its rows in one transaction (how JobStore created jobs before);
//   - "as written": JobStore.createJob as it is (rows in short statements that commit on their own).
// Per way: creation time and the probe's p50 / p99 / max wait. --reps (default 5), --rows (default 100).
import { openLedger } from "../src/billing/ledger/open";
import type { SqlDriver } from "../src/billing/ledger/sql-driver";
import { migrateJobs } from "../src/jobs/migrations";
import type { JobsSql } from "../src/jobs/sql";
import { JobStore } from "../src/jobs/store";
import type { NewJob } from "../src/jobs/types";
import { argInt, percentile, round } from "./lib";

const PROBE_EVERY_MS = 5;

function job(jobId: string, rows: number): NewJob {
  return {
    customerId: "cus_bench",
    jobId,
    keyId: "key_bench",
    model: "dream-reference-tiny",
    params: "{}",
    output: "{}",
    source: "upload",
    sinkDir: `out/${jobId}`,
    budgetMicros: 0,
    priority: 2,
    atMs: Date.now(),
    rows: Array.from({ length: rows }, (_, i) => ({
      name: `r${i}`,
      priceMicros: 24_500,
      start: { encoding: 1, height: 48, width: 64, bytes: new Uint8Array(48 * 64 * 3).fill(i & 255) },
      actions: { shape: [48, 384], bytes: new Uint8Array(48 * 384 * 4).fill((i * 7) & 255) },
    })),
    contentDigest: jobId, // never compared here: every job id is new
  };
}

/** JobStore over one open transaction: every statement of the creation inside it. */
function inOneTransaction(driver: SqlDriver): JobStore["createJob"] {
  return (j) =>
    driver.transaction((tx) => {
      const sql: JobsSql = { kind: driver.kind, query: (q, p) => tx.query(q, p), exec: (q) => tx.exec(q), transaction: (fn) => fn(tx) };
      return new JobStore(sql).createJob(j);
    });
}

async function measure(create: () => Promise<unknown>, driver: SqlDriver): Promise<{ createMs: number; probeMs: number[] }> {
  const probeMs: number[] = [];
  let done = false;
  const probes = (async () => {
    while (!done) {
      const t0 = performance.now();
      await driver.query("SELECT count(*) FROM billing_customers");
      probeMs.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
    }
  })();
  const t0 = performance.now();
  await create();
  const createMs = performance.now() - t0;
  done = true;
  await probes;
  return { createMs, probeMs };
}

async function main(): Promise<void> {
  const reps = argInt("reps", 5);
  const rows = argInt("rows", 100);
  const backend = await openLedger({ inMemory: true });
  await backend.migrate();
  await migrateJobs(backend.driver);
  const ways = { "one transaction": inOneTransaction(backend.driver), "as written": (j: NewJob) => new JobStore(backend.driver).createJob(j) };
  const results = new Map<string, { createMs: number[]; probeMs: number[] }>(Object.keys(ways).map((w) => [w, { createMs: [], probeMs: [] }]));
  try {
    for (let r = 0; r < reps; r++) {
      for (const [way, create] of Object.entries(ways)) {
        const m = await measure(() => create(job(`${way.replace(/ /g, "-")}-${r}`, rows)), backend.driver);
        results.get(way)!.createMs.push(m.createMs);
        results.get(way)!.probeMs.push(...m.probeMs);
      }
    }
  } finally {
    await backend.close();
  }
  const out = [...results].map(([way, m]) => ({
    bench: "jobs-ledger",
    way,
    rows,
    reps,
    row_kb: 82,
    create_ms_median: round(percentile(m.createMs, 0.5)),
    create_ms_all: m.createMs.map((x) => round(x)),
    probes: m.probeMs.length,
    probe_p50_ms: round(percentile(m.probeMs, 0.5), 2),
    probe_p99_ms: round(percentile(m.probeMs, 0.99), 2),
    probe_max_ms: round(Math.max(...m.probeMs), 2),
    date: new Date().toISOString(),
  }));
  for (const row of out) process.stdout.write(`${JSON.stringify(row)}\n`);
  const [a, b] = out;
  process.stdout.write(`summary: creating a job of ${rows} uploaded rows on the embedded ledger, ${reps} reps alternating: one transaction ${a!.create_ms_median} ms, a tiny statement meanwhile waited p99 ${a!.probe_p99_ms} / max ${a!.probe_max_ms} ms; as written ${b!.create_ms_median} ms, p99 ${b!.probe_p99_ms} / max ${b!.probe_max_ms} ms\n`);
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
