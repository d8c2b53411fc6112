// Built-in frame scorer ssim: cost = 1 − mean SSIM. Both images are scaled to [0,1] and s×s mean-pooled
// (as pixel-l2), then SSIM is computed per RGB channel with a k×k box window at stride 1 over the pooled
// image, no padding ("valid": (H/s−k+1)×(W/s−k+1) window positions), population (biased) moments, and
// C1 = 0.01², C2 = 0.03². The cost is 1 − the mean of the SSIM map over positions and the 3 channels.
// A box window (AveragePool) rather than Wang et al.'s 11×11 Gaussian keeps it to one ONNX op per moment.
import { attr, DT, GraphBuilder } from "../onnx/graph";
import { frameScorerInputs, unitPooled, type FrameScorerGeometry } from "./pixel-graph";

export const SSIM_C1 = 0.01 ** 2;
export const SSIM_C2 = 0.03 ** 2;

export function ssimScorerGraph(geo: FrameScorerGeometry, downsample: number, window: number) {
  const g = new GraphBuilder("dream_scorer_ssim");
  const { frames, goal } = frameScorerInputs(g, geo);
  const inv255 = g.f32("scorer.inv255", [], [1 / 255]);
  const x = unitPooled(g, frames, inv255, geo, downsample);
  const y = unitPooled(g, goal, inv255, geo, downsample);
  // The k×k box mean as a k×1 then a 1×k mean (separable; exact, since no window is padded): 2k
  // instead of k² reads per value. The trailing axis (RGB) has kernel 1, so channels stay apart.
  const pool = (t: string, kernel: number[]) => g.o("AveragePool", [t], { kernel_shape: attr.ints(kernel), strides: attr.ints([1, 1, 1]) });
  const box = (t: string) => pool(pool(t, [window, 1, 1]), [1, window, 1]);
  const mul = (a: string, b: string) => g.o("Mul", [a, b]);
  const add = (a: string, b: string) => g.o("Add", [a, b]);
  const [c1, c2, two] = [g.f32("scorer.c1", [], [SSIM_C1]), g.f32("scorer.c2", [], [SSIM_C2]), g.f32("scorer.two", [], [2])];
  const [mx, my] = [box(x), box(y)];
  const [mxx, myy, mxy] = [mul(mx, mx), mul(my, my), mul(mx, my)];
  const sxx = g.o("Sub", [box(mul(x, x)), mxx]);
  const syy = g.o("Sub", [box(mul(y, y)), myy]);
  const sxy = g.o("Sub", [box(mul(x, y)), mxy]);
  const num = mul(add(mul(two, mxy), c1), add(mul(two, sxy), c2));
  const den = mul(add(add(mxx, myy), c1), add(add(sxx, syy), c2));
  const ssim = g.o("ReduceMean", [g.o("Div", [num, den]), g.i64("scorer.image_axes", [3], [2, 3, 4])], { keepdims: attr.i(0) });
  g.output("cost", DT.FLOAT, ["B", "F"], g.o("Sub", [g.f32("scorer.one", [], [1]), ssim]));
  return g.build();
}
