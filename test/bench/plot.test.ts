// bench/plot's plots from fixture rows shaped as the benches print them: each renders to well-formed
// SVG carrying its series, title and provenance; each is skipped, with a reason, when its rows are
// absent or its bench failed. Rendering only; nothing here is timed.
import assert from "node:assert/strict";
import { PLOTS } from "../../bench/plot-list";
import type { ResultRecord } from "../../bench/plot-common";
import { renderSvg } from "../../bench/plot-render";
import { parseBenchOutput } from "../../bench/suite-parse";

const record = (bench: string, rows: Record<string, unknown>[], status = "ok"): ResultRecord => ({
  bench,
  status,
  command: `npm run bench:${bench} -- --quick`,
  started_at: "2026-12-02T04:00:00.000Z",
  machine: { cpu: "Fixture CPU", cores: 2, memory_gb: 24 },
  load_avg_before: [1.5, 1, 1],
  load_avg_after: [2.5, 1, 1],
  rows,
});

const saturationRows = ["grpc", "rest"].flatMap((transport, ti) => [
  { kind: "floor", model: "dream-reference-tiny", lanes: 8, frames_per_s: 2000 },
  ...[1, 2, 4].map((c) => ({ kind: "point", model: "dream-reference-tiny", transport, mode: "closed", concurrency: c, achieved_frames_per_s: 500 * c - 100 * ti, latency_p50_ms: 100 * c, latency_p99_ms: 180 * c, floor_best_frames_per_s: 2000, floor_best_lanes: 16, ratio_to_floor: 0.25 * c })),
  ...[3.1, 5.6].map((rate) => ({ kind: "point", model: "dream-reference-tiny", transport, mode: "open", offered_rate_per_s: rate, achieved_frames_per_s: 392 * rate, latency_p50_ms: 90 + rate, latency_p99_ms: 200 + rate, floor_best_frames_per_s: 2000, floor_best_lanes: 16, ratio_to_floor: 0.2 })),
]);

const mpcRows = ["direct", "rank", "prune"].map((mode, i) => ({ model: "dream-reference-tiny", mode, k: 8, t: 48, decisions: 4, p50_ms: 100, latencies_ms: [80 + i, 95 + i, 120 + i, 300 + i] }));

const all = new Map<string, ResultRecord>([
  ["saturation", record("saturation", saturationRows)],
  ["mpc", record("mpc", mpcRows)],
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
    "saturation-latency": ["grpc", "rest", "p50", "p99", "closed loop", "open loop"],
    "saturation-throughput": ["grpc", "rest", "floor best 2000 frames/s (16 lanes)"],
    "decision-latency-cdf": ["direct", "rank", "prune", "dream-reference-tiny"],
  };

  for (const plot of PLOTS) {
    it(`${plot.name}: well-formed SVG with its series, title, date, machine and command`, async () => {
      const spec = plot.build(all);
      assert.notEqual(typeof spec, "string", String(spec));
      const svg = await renderSvg(spec as Exclude<typeof spec, string>);
      assertWellFormed(svg);
      for (const text of [...(expected[plot.name] ?? []), "2026-12-02 04:00:00 UTC", "Fixture CPU, 2 cores", "--quick"]) assert.ok(svg.includes(text), `${plot.name}: no "${text}" in the SVG`);
    });

    it(`${plot.name}: skipped with a reason when its bench is absent, failed or printed no usable rows`, () => {
      assert.match(String(plot.build(new Map())), /no \S+\.json/);
      const failed = new Map([...all].map(([k, r]) => [k, { ...r, status: "failed" }]));
      assert.match(String(plot.build(failed)), /failed in this run/);
      const empty = new Map([...all].map(([k, r]) => [k, { ...r, rows: [{ unrelated: 1 }] }]));
      assert.match(String(plot.build(empty)), /no rows/);
    });
  }

  it("every plot has fixture expectations", () => assert.deepEqual(PLOTS.map((p) => p.name).sort(), Object.keys(expected).sort()));
});

describe("bench/suite-parse", () => {
  it("keeps one-line rows, a pretty-printed document and a summary continued on indented lines", () => {
    const out = ['> dream-engine@0.1.0 bench:x', '{"a":1}', "{", '  "b": {"c": 2}', "}", "noise", "summary (npm run x):", "  line one", "  line two", "after"].join("\n");
    const parsed = parseBenchOutput(out);
    assert.deepEqual(parsed.rows, [{ a: 1 }, { b: { c: 2 } }]);
    assert.equal(parsed.summary, "summary (npm run x):\n  line one\n  line two");
    assert.deepEqual(parsed.unparsed, []);
  });

  it("reports a { line that never parses instead of dropping it", () => {
    const parsed = parseBenchOutput('{"a":\nsummary: x\n');
    assert.equal(parsed.rows.length, 0);
    assert.equal(parsed.unparsed.length, 1);
    assert.equal(parsed.summary, "summary: x");
  });
});
