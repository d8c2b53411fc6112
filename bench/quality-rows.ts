// What the quality bench records for one (model, composition, output encoding): served frames decoded
// back to RGB8 and compared with the direct unbatched frames of the same candidates. Lossless outputs
// (RAW_RGB8, PNG) must be byte-identical, and any difference is a failure naming the candidate, frame
// and byte; lossy ones (JPEG, MP4) get PSNR/SSIM (src/quality) and, with an LPIPS model, LPIPS.
import { decodeInputFrame, decodeMp4 } from "../src/codec";
import { FrameEncoding, type Rollout } from "../src/gen/dream/v1/dream";
import { fidelity, firstDifference } from "../src/quality/compare";
import type { LpipsModel } from "../gpu/lpips";

export type OutputName = "RAW_RGB8" | "PNG" | "JPEG q75" | "JPEG q90" | "JPEG q95" | "MP4";

export interface OutputSpec {
  name: OutputName;
  encoding: FrameEncoding;
  jpegQuality: number;
  lossless: boolean;
  /** Pass/fail target on PSNR against raw (issue 13): JPEG q90 ≥ 40 dB, MP4 ≥ 35 dB. */
  psnrTargetDb?: number;
}

export const OUTPUTS: Record<OutputName, OutputSpec> = {
  RAW_RGB8: { name: "RAW_RGB8", encoding: FrameEncoding.RAW_RGB8, jpegQuality: 0, lossless: true },
  PNG: { name: "PNG", encoding: FrameEncoding.PNG, jpegQuality: 0, lossless: true },
  "JPEG q75": { name: "JPEG q75", encoding: FrameEncoding.JPEG, jpegQuality: 75, lossless: false },
  "JPEG q90": { name: "JPEG q90", encoding: FrameEncoding.JPEG, jpegQuality: 90, lossless: false, psnrTargetDb: 40 },
  "JPEG q95": { name: "JPEG q95", encoding: FrameEncoding.JPEG, jpegQuality: 95, lossless: false },
  MP4: { name: "MP4", encoding: FrameEncoding.MP4, jpegQuality: 0, lossless: false, psnrTargetDb: 35 },
};

export interface Size {
  height: number;
  width: number;
}

/** A served candidate's frames as RGB8 (frame 0 first), whatever the encoding on the wire. */
export async function decodeFrames(encoding: FrameEncoding, frames: readonly Uint8Array[], video: Uint8Array | undefined, size: Size): Promise<Uint8Array[]> {
  switch (encoding) {
    case FrameEncoding.RAW_RGB8:
      return [...frames];
    case FrameEncoding.PNG:
      return Promise.all(frames.map((f) => decodeInputFrame({ encoding: "PNG", data: f }, size, "frame")));
    case FrameEncoding.JPEG:
      return Promise.all(frames.map((f) => decodeInputFrame({ encoding: "JPEG", data: f }, size, "frame")));
    case FrameEncoding.MP4:
      return (await decodeMp4(Buffer.from(video ?? new Uint8Array(0)))).frames;
    default:
      throw new Error(`cannot decode output encoding ${FrameEncoding[encoding]}`);
  }
}

export function decodeRollout(r: Rollout, size: Size): Promise<Uint8Array[]> {
  return decodeFrames(r.encoding, r.frames, r.video, size);
}

/** One served candidate next to its direct reference (frames 0..n-1 of both). */
export interface CandidatePair {
  /** How the difference message names it, e.g. 3 or "B1" or "2 (cancelled after 13 frames)". */
  candidate: number | string;
  served: Uint8Array[];
  direct: Uint8Array[];
}

export interface QualityRow {
  kind: "served";
  model: string;
  composition: string;
  output: OutputName;
  k: number;
  t: number;
  num_steps: number;
  seed: number;
  candidates_compared: number;
  frames_compared: number;
  lossless: boolean;
  /** Lossless outputs: byte-identical to direct; null for lossy ones (not expected to be). */
  bit_exact: boolean | null;
  /** The first difference of a lossless output (or a frame count/size mismatch of any), named; else null. */
  difference: string | null;
  /** PSNR from the MSE pooled over every compared frame (Infinity: identical). */
  psnr_db: number;
  psnr_min_db: number;
  ssim: number;
  ssim_min: number;
  /** Mean LPIPS over the compared frames; null without --lpips. */
  lpips: number | null;
  psnr_target_db: number | null;
  target_pass: boolean | null;
  /** What else this composition checked (e.g. that the join really overlapped). */
  notes: string[];
  /** The composition did not happen as meant (e.g. the cancel arrived after the request ended). */
  problem: string | null;
}

export interface RowContext {
  model: string;
  composition: string;
  k: number;
  t: number;
  numSteps: number;
  seed: number;
  size: Size;
  lpips?: LpipsModel;
  notes?: string[];
  problem?: string;
}

export async function compareRow(ctx: RowContext, output: OutputSpec, pairs: CandidatePair[]): Promise<QualityRow> {
  let difference: string | null = null;
  const served: Uint8Array[] = [];
  const direct: Uint8Array[] = [];
  for (const p of pairs) {
    const d = firstDifference(p.direct, p.served);
    // Lossy outputs differ by design; only a wrong frame count or size is a failure for them.
    if (d !== undefined && difference === null && (output.lossless || d.byte === -1)) {
      difference =
        d.byte === -1
          ? `candidate ${p.candidate}: frame ${d.frame}: ${p.served.length === p.direct.length ? "frame length" : "frame count"} ${d.actual}, expected ${d.expected}`
          : `candidate ${p.candidate}: frame ${d.frame}: byte ${d.byte} (pixel ${Math.floor(d.byte / 3)}, channel ${d.byte % 3}) is ${d.actual}, direct has ${d.expected}`;
    }
    const n = Math.min(p.served.length, p.direct.length);
    served.push(...p.served.slice(0, n));
    direct.push(...p.direct.slice(0, n));
  }
  // No frames to compare only happens with a problem set (the row fails on it): NaN, never a figure.
  const stats = served.length > 0 ? fidelity(direct, served, ctx.size) : { psnrDb: NaN, psnrMinDb: NaN, ssimMean: NaN, ssimMin: NaN };
  let lpips: number | null = null;
  if (ctx.lpips && !output.lossless) {
    let sum = 0;
    for (let i = 0; i < served.length; i++) sum += await ctx.lpips.distance(direct[i]!, served[i]!);
    lpips = sum / served.length;
  }
  const target = output.psnrTargetDb ?? null;
  return {
    kind: "served",
    model: ctx.model,
    composition: ctx.composition,
    output: output.name,
    k: ctx.k,
    t: ctx.t,
    num_steps: ctx.numSteps,
    seed: ctx.seed,
    candidates_compared: pairs.length,
    frames_compared: served.length,
    lossless: output.lossless,
    bit_exact: output.lossless ? difference === null : null,
    difference,
    psnr_db: stats.psnrDb,
    psnr_min_db: stats.psnrMinDb,
    ssim: stats.ssimMean,
    ssim_min: stats.ssimMin,
    lpips,
    psnr_target_db: target,
    target_pass: target === null ? null : stats.psnrDb >= target,
    notes: ctx.notes ?? [],
    problem: ctx.problem ?? null,
  };
}

/** Why a row fails the gate, or undefined when it passes. */
export function rowFailure(r: QualityRow): string | undefined {
  const where = `${r.model} / ${r.composition} / ${r.output}`;
  if (r.problem !== null) return `${where}: ${r.problem}`;
  if (r.difference !== null) return `${where}: served output differs from direct unbatched output: ${r.difference}`;
  if (r.target_pass === false) return `${where}: PSNR ${r.psnr_db.toFixed(2)} dB is under the ${r.psnr_target_db} dB target`;
  return undefined;
}
