// Pure pieces of batch jobs: path confinement, row names, job ids, actions splitting, NDJSON bodies,
// budget arithmetic, rates, the sink layout and the results.jsonl writer.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { CatalogEntry } from "../../src/config/catalog";
import { ServiceError } from "../../src/core/errors";
import { budgetExhausted, rowFitsBudget } from "../../src/jobs/budget";
import { jobContentDigest, type JobContent } from "../../src/jobs/digest";
import { checkRowName, defaultRowName, resolveUnder } from "../../src/jobs/paths";
import { resultsText, writeResults } from "../../src/jobs/results";
import { rowFiles, writeRowFiles } from "../../src/jobs/sink";
import { rowRequestId, type RowRecord } from "../../src/jobs/types";
import { checkJobId, jobOutput } from "../../src/service/jobs/create";
import { splitActions } from "../../src/service/jobs/rows";
import { jobRates } from "../../src/service/jobs/view";
import { createJobFromNdjson } from "../../src/transport/rest/jobs-ndjson";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";

const invalid = (field: RegExp) => (err: unknown) => {
  assert.ok(err instanceof ServiceError, String(err));
  assert.equal(err.reason, "INVALID_ARGUMENT");
  assert.match(err.message, field);
  return true;
};

const entry = { slug: "tiny", actionDim: 4, batchLanesMax: 8 } as unknown as CatalogEntry;

describe("jobs: paths under the jobs root", () => {
  const root = "/srv/jobs";
  it("resolves relative paths under the root", () => {
    assert.equal(resolveUnder(root, "a/b", "sink.dir"), "/srv/jobs/a/b");
    assert.equal(resolveUnder(root, "./a", "sink.dir"), "/srv/jobs/a");
  });
  it("refuses absolute paths, '..' escapes and empty ones, naming the field", () => {
    assert.throws(() => resolveUnder(root, "/etc", "sink.dir"), invalid(/sink\.dir.*absolute/));
    assert.throws(() => resolveUnder(root, "a/../../etc", "source.dir"), invalid(/source\.dir.*\.\./));
    assert.throws(() => resolveUnder(root, "..", "source.dir"), invalid(/source\.dir/));
    assert.throws(() => resolveUnder(root, "a\\..\\..\\x", "sink.dir"), invalid(/sink\.dir/));
    assert.throws(() => resolveUnder(root, "", "sink.dir"), invalid(/sink\.dir.*required/));
  });
  it("refuses a symbolic link inside the root that leads out of it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-jobs-root-"));
    try {
      fs.symlinkSync(os.tmpdir(), path.join(dir, "out"));
      fs.mkdirSync(path.join(dir, "in"));
      assert.throws(() => resolveUnder(dir, "out/x", "sink.dir"), invalid(/sink\.dir.*symbolic link/));
      assert.equal(resolveUnder(dir, "in/new/deeper", "sink.dir"), path.join(dir, "in", "new", "deeper"));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
  it("row names are safe file names; defaults are zero-padded indices", () => {
    assert.equal(checkRowName("clip-1.a_b", "f"), "clip-1.a_b");
    for (const bad of ["", ".hidden", "a/b", "a b", "x".repeat(129)]) assert.throws(() => checkRowName(bad, "source.rows[3].name"), invalid(/source\.rows\[3\]\.name/));
    assert.equal(defaultRowName(42), "000042");
  });
  it("job ids keep the row request ids within the request id limit", () => {
    const id = "a".repeat(40);
    assert.equal(checkJobId(id), id);
    assert.ok(rowRequestId(id, 9999, 2).length <= 64);
    assert.throws(() => checkJobId("a".repeat(41)), invalid(/job_id/));
    assert.throws(() => checkJobId("-x"), invalid(/job_id/));
    assert.equal(rowRequestId("j", 3, 0), "job-j-row-3");
    assert.equal(rowRequestId("j", 3, 1), "job-j-row-3-r1");
  });
  it("job output defaults to MP4", () => {
    assert.equal(jobOutput(undefined).encoding, FrameEncoding.MP4);
    assert.equal(jobOutput({ encoding: FrameEncoding.PNG, jpegQuality: 0 }).encoding, FrameEncoding.PNG);
  });
});

describe("jobs: actions of a row", () => {
  it("[T, D] is one candidate, [K, T, D] is K slices", () => {
    const one = splitActions({ shape: [3, 4], data: new Uint8Array(48) }, "f", entry);
    assert.equal(one.length, 1);
    const data = new Uint8Array(2 * 3 * 4 * 4).map((_, i) => i & 255);
    const two = splitActions({ shape: [2, 3, 4], data }, "f", entry);
    assert.deepEqual(two.map((c) => c.shape), [[3, 4], [3, 4]]);
    assert.equal(two[1]!.data[0], 48);
  });
  it("names the row's field for a bad K or byte count", () => {
    assert.throws(() => splitActions({ shape: [9, 3, 4], data: new Uint8Array(9 * 48) }, "source.rows[2].actions", entry), invalid(/source\.rows\[2\]\.actions.*K must be/));
    assert.throws(() => splitActions({ shape: [2, 3, 4], data: new Uint8Array(10) }, "source.rows[2].actions", entry), invalid(/source\.rows\[2\]\.actions.*bytes/));
    assert.throws(() => splitActions(undefined, "source.rows[0].actions", entry), invalid(/source\.rows\[0\]\.actions.*required/));
  });
});

describe("jobs: NDJSON CreateJob bodies", () => {
  it("first line is the request, every further line a row", () => {
    const tree = createJobFromNdjson(Buffer.from('{"model":"m","sink":{"dir":"o"}}\n{"name":"a"}\n\n{"name":"b"}\n'));
    assert.deepEqual(tree, { model: "m", sink: { dir: "o" }, source: { rows: { rows: [{ name: "a" }, { name: "b" }] } } });
  });
  it("refuses a source in the first line, bad JSON (naming the line) and an empty body", () => {
    assert.throws(() => createJobFromNdjson(Buffer.from('{"source":{"dir":"x"}}\n')), invalid(/source/));
    assert.throws(() => createJobFromNdjson(Buffer.from('{"model":"m"}\n{nope\n')), invalid(/body line 2/));
    assert.throws(() => createJobFromNdjson(Buffer.from('{"model":"m"}\n[1]\n')), invalid(/body line 2/));
    assert.throws(() => createJobFromNdjson(Buffer.from("\n")), invalid(/empty/));
  });
});

describe("jobs: a create's content digest", () => {
  const content = (): JobContent => ({
    model: "tiny", params: "{}", output: "{}", sinkDir: "out", budgetMicros: 0, priority: 2,
    rows: [
      { name: "a", priceMicros: 4500, start: { encoding: 2, height: 1, width: 1, bytes: new Uint8Array([1, 2]) }, actions: { shape: [2, 4], bytes: new Uint8Array([3]) } },
      { name: "b", priceMicros: 4500, startPath: "b/start.png", actionsPath: "b/actions.npy" },
    ],
  });
  it("is the same for the same create and differs when any field or byte does", () => {
    const base = jobContentDigest(content());
    assert.match(base, /^[0-9a-f]{64}$/);
    assert.equal(jobContentDigest(content()), base);
    const changes: Array<(c: JobContent) => void> = [
      (c) => (c.budgetMicros = 1),
      (c) => (c.sinkDir = "out2"),
      (c) => (c.rows[0]!.start!.bytes = new Uint8Array([1, 3])),
      // The same bytes moved between fields must not collide.
      (c) => { c.rows[0]!.start!.bytes = new Uint8Array([1]); c.rows[0]!.actions!.bytes = new Uint8Array([2, 3]); },
      (c) => (c.rows[1]!.actionsPath = "b/other.npy"),
      (c) => (c.rows = c.rows.slice(0, 1)),
    ];
    for (const change of changes) {
      const c = content();
      change(c);
      assert.notEqual(jobContentDigest(c), base, change.toString());
    }
  });
});

describe("jobs: budget arithmetic", () => {
  it("a row starts only if charged + in-flight holds + its price fit the cap; 0 is no cap", () => {
    assert.equal(rowFitsBudget({ budgetMicros: 10_000, spentMicros: 4500, inflightMicros: 0 }, 4500), true);
    assert.equal(rowFitsBudget({ budgetMicros: 10_000, spentMicros: 4500, inflightMicros: 4500 }, 4500), false);
    assert.equal(rowFitsBudget({ budgetMicros: 9000, spentMicros: 4500, inflightMicros: 0 }, 4500), true, "exactly at the cap fits");
    assert.equal(rowFitsBudget({ budgetMicros: 0, spentMicros: 10 ** 12, inflightMicros: 10 ** 12 }, 4500), true);
  });
  it("is exhausted only when nothing in flight could still free room", () => {
    const state = { budgetMicros: 10_000, spentMicros: 9000, inflightMicros: 0 };
    assert.equal(budgetExhausted(state, 4500, 0), true);
    assert.equal(budgetExhausted({ ...state, inflightMicros: 4500 }, 4500, 1), false);
    assert.equal(budgetExhausted(state, undefined, 0), false, "no row waiting");
  });
});

describe("jobs: rates", () => {
  const counts = { pending: 50, running: 10, done: 40, failed: 0, written: 100, frames: 360, costMicros: 0, lastFinishedAtMs: 20_000 };
  it("counts from the first row's start; ETA of the rows left", () => {
    const r = jobRates({ firstStartedAtMs: 0, state: "running" }, counts, 10_000);
    assert.equal(r.rowsPerS, 4);
    assert.equal(r.framesPerS, 36);
    assert.equal(r.etaS, 15);
  });
  it("an ended job is measured up to its last row; nothing started is all zeros", () => {
    assert.equal(jobRates({ firstStartedAtMs: 0, state: "succeeded" }, counts, 99_000).rowsPerS, 2);
    assert.equal(jobRates({ firstStartedAtMs: 0, state: "succeeded" }, counts, 99_000).etaS, 0);
    assert.deepEqual(jobRates({ firstStartedAtMs: null, state: "pending" }, counts, 1), { rowsPerS: 0, framesPerS: 0, etaS: 0 });
  });
});

function row(i: number, state: RowRecord["state"], gen = 0): RowRecord {
  return { customerId: "c", jobId: "j", rowIndex: i, name: `n${i}`, requestGen: gen, state, attempts: 0, priceMicros: 4500, frames: state === "done" ? 9 : 0, costMicros: state === "done" ? 4500 : 0, error: state === "failed" ? "boom" : "", claimedBy: null, leaseUntilMs: null, start: null, actions: null, startPath: null, actionsPath: null, startedAtMs: null, finishedAtMs: null };
}

describe("jobs: sink and results.jsonl", () => {
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-jobs-unit-"))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("one line per row in row order, with the request id the row ran under", async () => {
    await writeResults(dir, [row(0, "done"), row(1, "failed", 1), row(2, "pending")]);
    const lines = fs.readFileSync(path.join(dir, "results.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines[0], { row: 0, name: "n0", request_id: "job-j-row-0", frames: 9, cost_micros: 4500, state: "done", error: "" });
    assert.equal(lines[1]!.request_id, "job-j-row-1-r1");
    assert.equal(lines.length, 3);
    // Rewritten whole: a second write replaces, never appends; no temp file is left behind.
    await writeResults(dir, [row(0, "done")]);
    assert.equal(fs.readFileSync(path.join(dir, "results.jsonl"), "utf8").trim().split("\n").length, 1);
    assert.deepEqual(fs.readdirSync(dir), ["results.jsonl"]);
    assert.equal(resultsText([]), "");
  });

  it("lays rows out as <name>.mp4, <name>/c<k>.mp4 or <name>/c<k>/<frame>.png, replacing an earlier attempt", async () => {
    const video = (b: number) => ({ frames: [], video: new Uint8Array([b]) });
    assert.deepEqual(rowFiles("a", "MP4", [video(1)]).files.map((f) => f.path), ["a.mp4"]);
    assert.deepEqual(rowFiles("a", "MP4", [video(1), video(2)]).files.map((f) => f.path), ["c0.mp4", "c1.mp4"]);
    const pngs = rowFiles("a", "PNG", [{ frames: [new Uint8Array([1]), new Uint8Array([2])], video: undefined }]);
    assert.deepEqual(pngs.files.map((f) => f.path), [path.join("c0", "0000.png"), path.join("c0", "0001.png")]);
    await writeRowFiles(dir, "a", pngs);
    await writeRowFiles(dir, "a", rowFiles("a", "JPEG", [{ frames: [new Uint8Array([3])], video: undefined }]));
    assert.deepEqual(fs.readdirSync(path.join(dir, "a", "c0")), ["0000.jpg"]);
    await writeRowFiles(dir, "b", rowFiles("b", "MP4", [video(7)]));
    assert.deepEqual([...fs.readFileSync(path.join(dir, "b.mp4"))], [7]);
    assert.deepEqual(fs.readdirSync(dir).sort(), ["a", "b.mp4"], "no staging or temp entries left");
  });
});
