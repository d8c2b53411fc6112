// encoder.onnx: frame uint8 [B,H,W,3] -> state float32 [B,16,H/8,W/8].
// Average-pool 4x4 in NHWC (a reshape + mean, so the full-resolution work is one pass), map to logits so
// that the decoder's sigmoid inverts it, pack each 2x2 block of the pooled image into 12 "appearance"
// channels (SpaceToDepth), then a 1x1 conv adds 4 hidden channels. The start frame therefore survives
// encoding at quarter resolution, which is what makes predicted frames resemble it.
import { GraphBuilder, DT, attr } from "../onnx/graph";
import { APPEARANCE_BLOCK, APPEARANCE_CHANNELS, DOWNSAMPLE, LATENT_CHANNELS, type ReferenceParams } from "./params";
import { identityPlus, normalWeights } from "./weights";

/** Pixel probabilities are clipped before the logit so that 0 and 255 stay finite. */
export const LOGIT_EPS = 0.25 / 255;

export function encoderGraph(p: ReferenceParams) {
  const g = new GraphBuilder("dream_reference_encoder");
  const pool = DOWNSAMPLE / APPEARANCE_BLOCK;
  const [H, W] = [p.height, p.width];
  const frame = g.input("frame", DT.UINT8, ["B", H, W, 3]);

  // Appearance channels pass through (identity); hidden channels are a fixed random mix of them.
  const hidden = LATENT_CHANNELS - APPEARANCE_CHANNELS;
  const mix = normalWeights(p.kind, "encoder.hidden_mix", hidden * APPEARANCE_CHANNELS, 1 / Math.sqrt(APPEARANCE_CHANNELS));
  const wEnc = identityPlus(LATENT_CHANNELS, APPEARANCE_CHANNELS, (r, c) => (r < APPEARANCE_CHANNELS ? 0 : mix[(r - APPEARANCE_CHANNELS) * APPEARANCE_CHANNELS + c]!));
  g.f32("encoder.w", [LATENT_CHANNELS, APPEARANCE_CHANNELS, 1, 1], wEnc);

  const f = g.o("Cast", [frame], { to: attr.i(DT.FLOAT) });
  const blocks = g.o("Reshape", [f, g.i64("encoder.pool_shape", [6], [-1, H / pool, pool, W / pool, pool, 3])]);
  const pooled = g.o("ReduceMean", [blocks, g.i64("encoder.pool_axes", [2], [2, 4])], { keepdims: attr.i(0) });
  const prob = g.o("Clip", [g.o("Mul", [pooled, g.f32("encoder.inv255", [], [1 / 255])]), g.f32("encoder.eps", [], [LOGIT_EPS]), g.f32("encoder.one_minus_eps", [], [1 - LOGIT_EPS])]);
  const logit = g.o("Sub", [g.o("Log", [prob]), g.o("Log", [g.o("Sub", [g.f32("encoder.one", [], [1]), prob])])]);
  const nchw = g.o("Transpose", [logit], { perm: attr.ints([0, 3, 1, 2]) });
  const appearance = g.o("SpaceToDepth", [nchw], { blocksize: attr.i(APPEARANCE_BLOCK) });
  const state = g.o("Conv", [appearance, "encoder.w"]);
  g.output("state", DT.FLOAT, ["B", LATENT_CHANNELS, H / DOWNSAMPLE, W / DOWNSAMPLE], state);
  return g.build();
}
