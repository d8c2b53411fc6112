// The two bench:saturation plots, from its `kind: "point"` rows: latency (p50 and p99) and frames/s
// against the load offered, one panel per model and loop shape. Closed and open loop are offered load
// in different units (clients back to back vs Poisson requests per second), so they get panels of
// their own rather than a shared axis; the models differ by two orders of magnitude, so each panel
// has its own scales too.
import type { TopLevelSpec } from "vega-lite";
import { HEIGHT, SCHEMA, WIDTH, num, rowsOf, subtitle, type Plot, type Results } from "./plot-common";

type Row = Record<string, unknown>;

const X_TITLE: Record<string, string> = { closed: "closed loop: concurrent clients", open: "open loop: offered requests/s (Poisson)" };

const loadOf = (r: Row): unknown => (r.mode === "closed" ? r.concurrency : r.offered_rate_per_s);

function points(results: Results, y: string[]): { rows: Row[]; subtitle: string[] } | string {
  const got = rowsOf(results, "saturation", (r) => r.kind === "point" && num(loadOf(r)) && y.some((f) => num(r[f])));
  return typeof got === "string" ? got : { rows: got.rows, subtitle: subtitle(got.record) };
}

/** One panel per (model, mode) present, models down, modes across; `cell` draws a panel from its rows. */
function grid(rows: Row[], title: string, sub: string[], cell: (rows: Row[], mode: string) => Record<string, unknown>): TopLevelSpec {
  const models = [...new Set(rows.map((r) => String(r.model)))];
  const modes = ["closed", "open"].filter((m) => rows.some((r) => r.mode === m));
  return {
    $schema: SCHEMA,
    title: { text: title, subtitle: sub },
    vconcat: models.map((model) => ({
      hconcat: modes
        .map((mode) => ({ mode, mine: rows.filter((r) => r.model === model && r.mode === mode) }))
        .filter(({ mine }) => mine.length > 0)
        .map(({ mode, mine }) => ({ title: `${model}, ${mode} loop`, width: WIDTH, height: HEIGHT, ...cell(mine, mode) })),
    })),
    resolve: { scale: { color: "shared", strokeDash: "shared" } },
  } as TopLevelSpec;
}

export const latencyVsLoad: Plot = {
  name: "saturation-latency",
  title: "bench:saturation: latency vs offered load, K=8 T=48 PredictBatch (solid p50, dashed p99)",
  build(results) {
    const got = points(results, ["latency_p50_ms", "latency_p99_ms"]);
    if (typeof got === "string") return got;
    return grid(got.rows, this.title, got.subtitle, (rows, mode) => ({
      data: {
        values: rows.flatMap((r) =>
          (["p50", "p99"] as const).flatMap((p) => {
            const ms = r[`latency_${p}_ms`];
            return num(ms) && ms > 0 ? [{ load: loadOf(r), transport: String(r.transport), percentile: p, latency_ms: ms }] : [];
          }),
        ),
      },
      mark: { type: "line", point: true },
      encoding: {
        x: { field: "load", type: "quantitative", title: X_TITLE[mode] },
        y: { field: "latency_ms", type: "quantitative", title: "latency (ms)", scale: { type: "log" } },
        color: { field: "transport", type: "nominal" },
        // Named in the title instead of a legend: vega's headless legend drew no symbol for a dash.
        strokeDash: { field: "percentile", type: "nominal", legend: null, sort: ["p50", "p99"] },
        detail: { field: "percentile" },
      },
    }));
  },
};

/**
 * The floor lines of one model: the best frames/s of each floor phase the bench measured (`kind:
 * "floor"` rows; bench:saturation measures before the served load and again after it), or, in rows
 * from before it printed floor rows, the best the points were compared with.
 */
function floorLines(all: Row[], model: string): { frames_per_s: number; label: string }[] {
  const floors = all.filter((r) => r.kind === "floor" && r.model === model && num(r.frames_per_s));
  const phases = [...new Set(floors.map((r) => String(r.phase ?? "")))];
  if (phases.length > 0) {
    return phases.map((phase) => {
      const best = floors.filter((r) => String(r.phase ?? "") === phase).reduce((a, b) => ((b.frames_per_s as number) > (a.frames_per_s as number) ? b : a));
      return { frames_per_s: best.frames_per_s as number, label: `floor${phase ? ` ${phase}` : ""}: ${best.frames_per_s} frames/s (${best.lanes} lanes)` };
    });
  }
  const point = all.find((r) => r.kind === "point" && r.model === model && num(r.floor_best_frames_per_s));
  return point ? [{ frames_per_s: point.floor_best_frames_per_s as number, label: `floor best ${point.floor_best_frames_per_s} frames/s (${point.floor_best_lanes} lanes)` }] : [];
}

export const framesVsLoad: Plot = {
  name: "saturation-throughput",
  title: "bench:saturation: served frames/s vs offered load (dashed: the floor's best, per floor phase)",
  build(results) {
    const got = points(results, ["achieved_frames_per_s"]);
    if (typeof got === "string") return got;
    const all = results.get("saturation")!.rows;
    return grid(got.rows, this.title, got.subtitle, (rows, mode) => {
      const served = {
        data: { values: rows.filter((r) => num(r.achieved_frames_per_s)).map((r) => ({ load: loadOf(r), transport: String(r.transport), frames_per_s: r.achieved_frames_per_s })) },
        mark: { type: "line", point: true },
        encoding: {
          x: { field: "load", type: "quantitative", title: X_TITLE[mode] },
          y: { field: "frames_per_s", type: "quantitative", title: "frames/s" },
          color: { field: "transport", type: "nominal" },
        },
      };
      // The highest floor is labelled above its line and the others below theirs, so two floors
      // close together (before and after the load) keep both labels readable.
      const lines = floorLines(all, String(rows[0]!.model)).sort((a, b) => b.frames_per_s - a.frames_per_s);
      const floors = lines.flatMap((f, i) => [
        { data: { values: [f] }, mark: { type: "rule", strokeDash: [6, 4], color: "gray" }, encoding: { y: { field: "frames_per_s", type: "quantitative" } } },
        { data: { values: [f] }, mark: { type: "text", align: "left", dx: 4, dy: i === 0 ? -6 : 10, x: 0, color: "gray" }, encoding: { y: { field: "frames_per_s", type: "quantitative" }, text: { field: "label" } } },
      ]);
      return { layer: [served, ...floors] };
    });
  },
};
