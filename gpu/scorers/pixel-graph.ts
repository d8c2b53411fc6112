// Built-in frame scorers pixel-l2 / pixel-l1: frames uint8 [B,F,H,W,3] + goal uint8 [B,H,W,3] →
// cost float32 [B,F]. Pixels are scaled to [0,1], both images average-pooled over s×s blocks, then the
// mean squared (l2) or absolute (l1) difference over the (H/s)×(W/s)×3 pooled values. The pool runs on
// the NHWC tensors as they are (kernel [s,s,1] over the trailing H, W, C axes), so nothing is transposed.
import { attr, DT, GraphBuilder } from "../onnx/graph";

export interface FrameScorerGeometry {
  height: number;
  width: number;
}

/**
 * Cast to float, the s×s mean pool (skipped when s = 1), then scale to [0,1]. The pool is a Reshape to
 * [B, F, H/s, s, W/s, s, 3] (0 keeps B and F as they are) and one ReduceMean: a single pass over the
 * full-resolution frames, about 4× faster on CPU than a 3-D AveragePool over NHWC; scaling after the
 * pool (it is linear) saves another full-resolution pass.
 */
export function unitPooled(g: GraphBuilder, u8: string, inv255: string, geo: FrameScorerGeometry, downsample: number): string {
  const f = g.o("Cast", [u8], { to: attr.i(DT.FLOAT) });
  if (downsample === 1) return g.o("Mul", [f, inv255]);
  const s = downsample;
  const blocks = g.o("Reshape", [f, g.i64(`scorer.pool_shape.${f}`, [7], [0, 0, geo.height / s, s, geo.width / s, s, 3])]);
  const pooled = g.o("ReduceMean", [blocks, g.i64(`scorer.pool_axes.${f}`, [2], [3, 5])], { keepdims: attr.i(0) });
  return g.o("Mul", [pooled, inv255]);
}

/** Declares the frame-scorer inputs; returns frames and the goal as [B,1,H,W,3] (broadcasts over F). */
export function frameScorerInputs(g: GraphBuilder, geo: FrameScorerGeometry): { frames: string; goal: string } {
  const frames = g.input("frames", DT.UINT8, ["B", "F", geo.height, geo.width, 3]);
  const goal = g.input("goal", DT.UINT8, ["B", geo.height, geo.width, 3]);
  return { frames, goal: g.o("Unsqueeze", [goal, g.i64("scorer.goal_axis", [1], [1])]) };
}

export function pixelScorerGraph(metric: "l2" | "l1", geo: FrameScorerGeometry, downsample: number) {
  const g = new GraphBuilder(`dream_scorer_pixel_${metric}`);
  const { frames, goal } = frameScorerInputs(g, geo);
  const inv255 = g.f32("scorer.inv255", [], [1 / 255]);
  const d = g.o("Sub", [unitPooled(g, frames, inv255, geo, downsample), unitPooled(g, goal, inv255, geo, downsample)]);
  const e = metric === "l2" ? g.o("Mul", [d, d]) : g.o("Abs", [d]);
  const cost = g.o("ReduceMean", [e, g.i64("scorer.image_axes", [3], [2, 3, 4])], { keepdims: attr.i(0) });
  g.output("cost", DT.FLOAT, ["B", "F"], cost);
  return g.build();
}
