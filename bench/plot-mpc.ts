// The decision latency CDF from bench:mpc: its rows carry every decision's latency (latencies_ms,
// sorted), so the curve is the raw samples, one per (model, mode), with no binning.
import { HEIGHT, SCHEMA, WIDTH, num, rowsOf, subtitle, type Plot } from "./plot-common";

export const decisionLatencyCdf: Plot = {
  name: "decision-latency-cdf",
  title: "bench:mpc: decision latency CDF, K=8 T=48 (from intended send time)",
  build(results) {
    const got = rowsOf(results, "mpc", (r) => Array.isArray(r.latencies_ms) && (r.latencies_ms as unknown[]).length > 0);
    if (typeof got === "string") return got;
    const values = got.rows.flatMap((r) => {
      const xs = (r.latencies_ms as number[]).filter(num);
      return xs.map((ms, i) => ({ model: String(r.model), mode: String(r.mode), latency_ms: ms, fraction: (i + 1) / xs.length }));
    });
    return {
      $schema: SCHEMA,
      title: { text: this.title, subtitle: subtitle(got.record) },
      data: { values },
      facet: { column: { field: "model", type: "nominal", title: null } },
      spec: {
        width: WIDTH,
        height: HEIGHT,
        mark: { type: "line", interpolate: "step-after", point: { size: 12 } },
        encoding: {
          x: { field: "latency_ms", type: "quantitative", title: "decision latency (ms)" },
          y: { field: "fraction", type: "quantitative", title: "fraction of decisions ≤ x", scale: { domain: [0, 1] } },
          color: { field: "mode", type: "nominal", title: "mode" },
        },
      },
      resolve: { scale: { x: "independent" } },
    };
  },
};
