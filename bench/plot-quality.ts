// PSNR per output encoding from `npm run quality`: its `kind: "served"` rows compare served frames with
// the same model run directly, per (model, composition, output). Lossless outputs are byte-identical
// or the run fails, so their PSNR is ∞ and a point cannot show it: the subtitle counts them instead. Points, not
// bars: the axis does not start at 0 dB, and a bar's length would then mean nothing.
// Ticks mark the targets the bench checks (JPEG q90 ≥ 40 dB, MP4 ≥ 35 dB; psnr_target_db).
import type { TopLevelSpec } from "vega-lite";
import { HEIGHT, SCHEMA, num, rowsOf, subtitle, type Plot } from "./plot-common";

export const qualityPerEncoding: Plot = {
  name: "quality-psnr",
  title: "npm run quality: PSNR of served lossy outputs vs direct unbatched frames (ticks: targets)",
  build(results) {
    const got = rowsOf(results, "quality", (r) => r.kind === "served");
    if (typeof got === "string") return got;
    const lossy = got.rows.filter((r) => r.lossless === false && num(r.psnr_db));
    if (lossy.length === 0) return "quality printed no lossy rows with a finite PSNR";
    const lossless = got.rows.filter((r) => r.lossless === true);
    const exact = lossless.filter((r) => r.bit_exact === true).length;
    const outputs = [...new Set(lossless.map((r) => String(r.output)))].join(", ");
    const values = lossy.map((r) => ({ model: String(r.model), composition: String(r.composition), output: String(r.output), psnr_db: r.psnr_db, ssim: r.ssim, target_db: num(r.psnr_target_db) ? r.psnr_target_db : null }));
    const models = [...new Set(values.map((v) => v.model))];
    // One panel per model, not a facet: the quick 480p pass covers fewer outputs than the tiny one.
    return {
      $schema: SCHEMA,
      title: { text: this.title, subtitle: [...subtitle(got.record), `lossless (${outputs || "none"}): ${exact}/${lossless.length} checks byte-identical to direct (PSNR ∞, not drawn)`] },
      vconcat: models.map((model) => ({
        title: model,
        height: HEIGHT,
        data: { values: values.filter((v) => v.model === model) },
        layer: [
          {
            mark: { type: "point", filled: true, size: 70 },
            encoding: {
              x: { field: "output", type: "nominal", title: "output encoding", axis: { labelAngle: 0 } },
              xOffset: { field: "composition", type: "nominal" },
              y: { field: "psnr_db", type: "quantitative", title: "PSNR (dB)", scale: { zero: false } },
              color: { field: "composition", type: "nominal", title: "batch composition" },
              tooltip: [{ field: "composition" }, { field: "psnr_db" }, { field: "ssim" }],
            },
          },
          {
            transform: [{ filter: "datum.target_db != null" }],
            mark: { type: "tick", color: "black", thickness: 2 },
            encoding: { x: { field: "output", type: "nominal" }, y: { field: "target_db", type: "quantitative" } },
          },
        ],
      })),
    } as TopLevelSpec;
  },
};
