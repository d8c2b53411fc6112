// step.onnx: one chunk of `chunkSize` actions for a batch of lanes.
//   state [B,16,h,w], actions [B,12,A], noise [B,16,h,w], guidance [B], num_steps int64 []
//   -> frames uint8 [B,12,H,W,3], next_state [B,16,h,w]
//
// 1. Motion: each action maps (fixed projection + tanh) to a velocity (dx, dy, rotation, zoom); a
//    cumulative sum over the chunk gives frame t's affine pose, and GridSample warps the chunk's start
//    latent to it. An action embedding is added on top (a faint tint + the hidden channels).
// 2. Guidance: target = uncond + g * (cond - uncond), uncond being the unwarped latent (no actions).
// 3. Denoising: x0 = target + noiseScale * noise; a Loop runs num_steps times
//    x <- x + relax * (target - x) + refine(x), refine = conv3x3 -> relu -> conv3x3 at latent size.
//    Compute per chunk grows linearly with num_steps, and residual noise shrinks as (1-relax)^num_steps.
// 4. Decode: 1x1 conv back to 12 appearance channels, sigmoid*255, DepthToSpace to quarter
//    resolution, round to uint8, then one bilinear 4x Resize in NHWC uint8 to full resolution (the only
//    full-resolution op). next_state is the last frame's latent.
import { GraphBuilder, DT, attr } from "../onnx/graph";
import { APPEARANCE_BLOCK, APPEARANCE_CHANNELS, DOWNSAMPLE, LATENT_CHANNELS, type ReferenceParams } from "./params";
import { identityPlus, normalWeights } from "./weights";

export function stepGraph(p: ReferenceParams) {
  const g = new GraphBuilder("dream_reference_step");
  const C = LATENT_CHANNELS;
  const T = p.chunkSize;
  const A = p.actionDim;
  const [H, W] = [p.height, p.width];
  const [h, w] = [H / DOWNSAMPLE, W / DOWNSAMPLE];
  const R = p.refineChannels;

  const state = g.input("state", DT.FLOAT, ["B", C, h, w]);
  const actions = g.input("actions", DT.FLOAT, ["B", T, A]);
  const noise = g.input("noise", DT.FLOAT, ["B", C, h, w]);
  const guidance = g.input("guidance", DT.FLOAT, ["B"]);
  const numSteps = g.input("num_steps", DT.INT64, []);

  // --- weights -------------------------------------------------------------------------------------
  g.f32("step.motion_proj", [A, 4], normalWeights(p.kind, "step.motion_proj", A * 4, 1 / Math.sqrt(A)));
  g.f32("step.motion_gain", [4], p.motionGains);
  g.f32("step.embed_proj", [A, C], normalWeights(p.kind, "step.embed_proj", A * C, 1 / Math.sqrt(A)));
  g.f32("step.embed_gain", [C], Array.from({ length: C }, (_, c) => (c < APPEARANCE_CHANNELS ? p.embedGainAppearance : p.embedGainHidden)));
  g.f32("step.decay", [C, 1, 1], Array.from({ length: C }, (_, c) => (c < APPEARANCE_CHANNELS ? 1 : p.hiddenDecay)));
  g.f32("step.refine1.w", [R, C, 3, 3], normalWeights(p.kind, "step.refine1.w", R * C * 9, 1 / Math.sqrt(C * 9)));
  g.f32("step.refine1.b", [R], normalWeights(p.kind, "step.refine1.b", R, 0.1));
  g.f32("step.refine2.w", [C, R, 3, 3], normalWeights(p.kind, "step.refine2.w", C * R * 9, p.refineGain / Math.sqrt(R * 9)));
  g.f32("step.refine2.b", [C], new Float32Array(C));
  const hiddenToColor = normalWeights(p.kind, "step.decode.hidden", APPEARANCE_CHANNELS * (C - APPEARANCE_CHANNELS), 0.05);
  g.f32("step.decode.w", [APPEARANCE_CHANNELS, C, 1, 1], identityPlus(APPEARANCE_CHANNELS, C, (r, c) => (c < APPEARANCE_CHANNELS ? 0 : hiddenToColor[r * (C - APPEARANCE_CHANNELS) + c - APPEARANCE_CHANNELS]!)));
  // Sampling grid of the latent in aspect-corrected normalized coordinates (x scaled by w/h so that
  // rotations are rigid), one row (x, y, 1) per latent pixel; GridSample align_corners=0 convention.
  const aspect = w / h;
  const base = new Float32Array(h * w * 3);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      const k = (i * w + j) * 3;
      base[k] = ((2 * j + 1) / w - 1) * aspect;
      base[k + 1] = (2 * i + 1) / h - 1;
      base[k + 2] = 1;
    }
  }
  g.f32("step.base_grid", [h * w, 3], base);
  g.f32("step.unaspect", [2], [1 / aspect, 1]);

  const shapeLatentN = g.i64("step.shape_latent_n", [4], [-1, C, h, w]);
  const tileChunk = g.i64("step.tile_chunk", [5], [1, T, 1, 1, 1]);
  const axis1 = g.i64("step.axis1", [1], [1]);
  /** [B, ...rest] -> [B*T, ...rest]: the same tensor for every frame of the chunk. */
  const perFrame = (x: string) => g.o("Reshape", [g.o("Expand", [g.o("Unsqueeze", [x, axis1]), tileChunk]), shapeLatentN]);

  // --- 1. motion -----------------------------------------------------------------------------------
  const velocity = g.o("Mul", [g.o("Tanh", [g.o("MatMul", [actions, "step.motion_proj"])]), "step.motion_gain"]); // [B,T,4]
  const pose = g.o("CumSum", [velocity, g.i64("step.cumsum_axis", [], [1])]);
  const [tx, ty, rot, logZoom] = g.op("Split", [pose], { axis: attr.i(2), num_outputs: attr.i(4) }, 4) as [string, string, string, string];
  const zoom = g.o("Exp", [logZoom]);
  const cos = g.o("Mul", [g.o("Cos", [rot]), zoom]);
  const sin = g.o("Mul", [g.o("Sin", [rot]), zoom]);
  // thetaT [B*T, 3, 2] such that (x', y') = (x, y, 1) @ thetaT: rotation+zoom, then translation.
  const thetaT = g.o("Reshape", [g.o("Concat", [cos, sin, g.o("Neg", [sin]), cos, tx, ty], { axis: attr.i(2) }), g.i64("step.shape_theta", [3], [-1, 3, 2])]);
  const gridFlat = g.o("Mul", [g.o("MatMul", ["step.base_grid", thetaT]), "step.unaspect"]); // [B*T, h*w, 2]
  const grid = g.o("Reshape", [gridFlat, g.i64("step.shape_grid", [4], [-1, h, w, 2])]);
  const tiled = perFrame(state); // [B*T, C, h, w]
  const warped = g.o("GridSample", [tiled, grid], { mode: attr.s("linear"), padding_mode: attr.s("border"), align_corners: attr.i(0) });
  const embed = g.o("Reshape", [
    g.o("Mul", [g.o("Tanh", [g.o("MatMul", [actions, "step.embed_proj"])]), "step.embed_gain"]),
    g.i64("step.shape_embed", [4], [-1, C, 1, 1]),
  ]);
  const cond = g.o("Add", [g.o("Mul", [warped, "step.decay"]), embed]);
  const uncond = g.o("Mul", [tiled, "step.decay"]);

  // --- 2. classifier-free guidance -----------------------------------------------------------------
  const gPerFrame = g.o("Reshape", [
    g.o("Expand", [g.o("Unsqueeze", [guidance, axis1]), g.i64("step.tile_guidance", [2], [1, T])]),
    g.i64("step.shape_guidance", [4], [-1, 1, 1, 1]),
  ]);
  const target = g.o("Add", [uncond, g.o("Mul", [gPerFrame, g.o("Sub", [cond, uncond])])]);

  // --- 3. denoising loop ---------------------------------------------------------------------------
  g.f32("step.noise_scale", [], [p.noiseScale]);
  g.f32("step.relax", [], [p.relax]);
  const x0 = g.o("Add", [target, g.o("Mul", [perFrame(noise), "step.noise_scale"])]);
  const body = new GraphBuilder("denoise_step", "denoise/");
  body.input("iteration", DT.INT64, []);
  const condIn = body.input("cond_in", DT.BOOL, []);
  const xIn = body.input("x_in", DT.FLOAT, ["N", C, h, w]);
  const pad1 = { pads: attr.ints([1, 1, 1, 1]) };
  const hidden = body.o("Relu", [body.o("Conv", [xIn, "step.refine1.w", "step.refine1.b"], pad1)]);
  const refine = body.o("Conv", [hidden, "step.refine2.w", "step.refine2.b"], pad1);
  const pulled = body.o("Add", [xIn, body.o("Mul", [body.o("Sub", [target, xIn]), "step.relax"])]);
  body.output("cond_out", DT.BOOL, [], body.o("Identity", [condIn]));
  body.output("x_out", DT.FLOAT, ["N", C, h, w], body.o("Add", [pulled, refine]));
  const x = g.o("Loop", [numSteps, "", x0], { body: attr.g(body.build()) });

  // --- 4. next state and decode --------------------------------------------------------------------
  const perLane = g.o("Reshape", [x, g.i64("step.shape_lanes", [5], [-1, T, C, h, w])]);
  const nextState = g.o("Gather", [perLane, g.i64("step.last_frame", [], [T - 1])], { axis: attr.i(1) });
  const colorLogits = g.o("Conv", [x, "step.decode.w"]); // [B*T, 12, h, w]
  const color = g.o("Mul", [g.o("Sigmoid", [colorLogits]), g.f32("step.u8_scale", [], [255])]);
  const quarter = g.o("DepthToSpace", [color], { blocksize: attr.i(APPEARANCE_BLOCK), mode: attr.s("DCR") }); // [B*T, 3, 2h, 2w]
  const quarterNhwc = g.o("Transpose", [quarter], { perm: attr.ints([0, 2, 3, 1]) });
  const quarterU8 = g.o("Cast", [g.o("Clip", [g.o("Round", [quarterNhwc]), g.f32("step.u8_min", [], [0]), "step.u8_scale"])], { to: attr.i(DT.UINT8) });
  const up = DOWNSAMPLE / APPEARANCE_BLOCK;
  const full = g.o("Resize", [quarterU8, "", g.f32("step.resize_scales", [4], [1, up, up, 1])], { mode: attr.s("linear") });
  g.output("frames", DT.UINT8, ["B", T, H, W, 3], g.o("Reshape", [full, g.i64("step.shape_frames", [5], [-1, T, H, W, 3])]));
  g.output("next_state", DT.FLOAT, ["B", C, h, w], nextState);
  return g.build();
}
