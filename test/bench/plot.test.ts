// bench/plot's plots from fixture rows shaped as the benches print them: each renders to well-formed
// SVG carrying its series, title and provenance; each is skipped, with a reason, when its rows are
// absent, and a failed run's rows carry the failure. Rendering only; nothing here is timed.
import assert from "node:assert/strict";
import { PLOTS } from "../../bench/plot-list";
import type { ResultRecord } from "../../bench/plot-common";
import { renderSvg } from "../../bench/plot-render";

const record = (bench: string, rows: Record<string, unknown>[], status = "ok"): ResultRecord => ({
  bench,
  status,
  command: `npm run bench:${bench} -- --quick`,
  started_at: "2026-12-02T04:00:00.000Z",
  machine: { cpu: "Fixture CPU", cores: 2, memory_gb: 24 },
  git: { commit: "0123456789ab", modified: ["src/a.ts", "src/b.ts"] },
  load_avg_before: [1.5, 1, 1],
  load_avg_after: [2.5, 1, 1],
  rows,
});

const saturationRows = ["grpc", "rest"].flatMap((transport, ti) => [
  ...(ti === 0 ? [{ kind: "floor", phase: "before", model: "dream-reference-tiny", lanes: 16, frames_per_s: 2000 }, { kind: "floor", phase: "before", model: "dream-reference-tiny", lanes: 8, frames_per_s: 1500 }, { kind: "floor", phase: "after", model: "dream-reference-tiny", lanes: 8, frames_per_s: 2100 }] : []),
  ...[1, 2, 4].map((c) => ({ kind: "point", model: "dream-reference-tiny", transport, mode: "closed", concurrency: c, achieved_frames_per_s: 500 * c - 100 * ti, latency_p50_ms: 100 * c, latency_p99_ms: 180 * c, floor_best_frames_per_s: 2000, floor_best_lanes: 16, ratio_to_floor: 0.25 * c })),
  ...[3.1, 5.6].map((rate) => ({ kind: "point", model: "dream-reference-tiny", transport, mode: "open", offered_rate_per_s: rate, achieved_frames_per_s: 392 * rate, latency_p50_ms: 90 + rate, latency_p99_ms: 200 + rate, floor_best_frames_per_s: 2000, floor_best_lanes: 16, ratio_to_floor: 0.2 })),
]);

const mpcRows = ["direct", "rank", "prune"].map((mode, i) => ({ model: "dream-reference-tiny", mode, k: 8, t: 48, decisions: 4, p50_ms: 100, latencies_ms: [80 + i, 95 + i, 120 + i, 300 + i] }));

const quality = (composition: string, output: string, lossless: boolean, psnr: number | string, target: number | null) => ({ kind: "served", model: "dream-reference-tiny", composition, output, lossless, bit_exact: lossless ? true : null, psnr_db: psnr, ssim: lossless ? 1 : 0.99, psnr_target_db: target });
const qualityRows = ["K=1", "full batch (K=8)"].flatMap((c) => [quality(c, "RAW_RGB8", true, "Infinity", null), quality(c, "PNG", true, "Infinity", null), quality(c, "JPEG q90", false, 41.5, 40), quality(c, "MP4", false, 36.1, 35)]);

const all = new Map<string, ResultRecord>([
  ["saturation", record("saturation", saturationRows)],
  ["mpc", record("mpc", mpcRows)],
  ["quality", record("quality", qualityRows)],
]);

/** Tags open and close in order under one <svg> root (no XML parser among the dependencies). */
function assertWellFormed(svg: string): void {
  assert.match(svg, /^<svg[\s>]/);
  const stack: string[] = [];
  let roots = 0;
  for (const m of svg.matchAll(/<(\/?)([A-Za-z][\w:.-]*)(?:\s[^<>]*?)?(\/?)>/g)) {
    const [, closing, name, selfClosing] = m;
    if (closing) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    }
  }
  assert.deepEqual(stack, [], "unclosed elements");
  assert.equal(roots, 1);
  assert.equal(svg.replace(/<[^<>]*>/g, "").includes("<"), false, "a stray '<' outside any tag");
}

describe("bench/plot", () => {
  const expected: Record<string, string[]> = {
    "saturation-latency": ["grpc", "rest", "solid p50, dashed p99", "closed loop", "open loop"],
    "saturation-throughput": ["grpc", "rest", "floor before: 2000 frames/s (16 lanes)", "floor after: 2100 frames/s (8 lanes)"],
    "decision-latency-cdf": ["direct", "rank", "prune", "dream-reference-tiny"],
    "quality-psnr": ["JPEG q90", "MP4", "K=1", "full batch (K=8)", "4/4 checks byte-identical"],
  };

  for (const plot of PLOTS) {
    it(`${plot.name}: well-formed SVG with its series, title, date, machine and command`, async () => {
      const spec = plot.build(all);
      assert.notEqual(typeof spec, "string", String(spec));
      const svg = await renderSvg(spec as Exclude<typeof spec, string>);
      assertWellFormed(svg);
      for (const text of [...(expected[plot.name] ?? []), "2026-12-02 04:00:00 UTC", "Fixture CPU, 2 cores", "--quick", "at 0123456789ab + 2 modified"]) assert.ok(svg.includes(text), `${plot.name}: no "${text}" in the SVG`);
    });

    it(`${plot.name}: skipped with a reason when its bench is absent or printed no usable rows`, () => {
      assert.match(String(plot.build(new Map())), /no \S+\.json/);
      const empty = new Map([...all].map(([k, r]) => [k, { ...r, rows: [{ unrelated: 1 }] }]));
      assert.match(String(plot.build(empty)), /no rows/);
      const failedEmpty = new Map([...all].map(([k, r]) => [k, { ...r, status: "failed", reason: "exited with 1", rows: [] }]));
      assert.match(String(plot.build(failedEmpty)), /failed in this run \(exited with 1\)/);
    });

    it(`${plot.name}: a failed run's rows are drawn with the failure in the subtitle`, async () => {
      const failed = new Map([...all].map(([k, r]) => [k, { ...r, status: "failed", reason: "exited with 1" }]));
      const spec = plot.build(failed);
      assert.notEqual(typeof spec, "string", String(spec));
      assert.ok((await renderSvg(spec as Exclude<typeof spec, string>)).includes("failed (exited with 1)"));
    });
  }

  it("every plot has fixture expectations", () => assert.deepEqual(PLOTS.map((p) => p.name).sort(), Object.keys(expected).sort()));
});
