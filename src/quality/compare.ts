// Comparing a rollout with a reference rollout, frame by frame: the exact verdict (first differing
// byte) for lossless outputs, and PSNR/SSIM for lossy ones. PSNR over several frames pools the squared
// error first (one MSE over every compared sample), so a single identical frame (MSE 0, PSNR ∞) cannot
// make a mean of per-frame dB values infinite; the worst frame's PSNR is reported beside it. SSIM is
// the mean of the per-frame indices, the worst frame beside it.
import { assert } from "../core/assert";
import { psnr, psnrFromMse, squaredErrorSum } from "./psnr";
import { ssim, type ImageSize } from "./ssim";

export interface FrameDifference {
  frame: number;
  /**
   * Byte offset within the frame of the first difference, with the two byte values; -1 when the
   * frame counts (then expected/actual are the counts) or the frame lengths differ (the lengths).
   */
  byte: number;
  expected: number;
  actual: number;
}

/** The first byte where two frame lists differ, or undefined when they are identical (same count too). */
export function firstDifference(expected: readonly Uint8Array[], actual: readonly Uint8Array[]): FrameDifference | undefined {
  if (expected.length !== actual.length) return { frame: Math.min(expected.length, actual.length), byte: -1, expected: expected.length, actual: actual.length };
  for (let f = 0; f < expected.length; f++) {
    const a = expected[f]!;
    const b = actual[f]!;
    if (a.length !== b.length) return { frame: f, byte: -1, expected: a.length, actual: b.length };
    // Buffer.compare is a memcmp; only a mismatching frame is scanned byte by byte.
    if (Buffer.compare(a, b) === 0) continue;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return { frame: f, byte: i, expected: a[i]!, actual: b[i]! };
  }
  return undefined;
}

export interface FidelityStats {
  frames: number;
  /** From the MSE pooled over every compared sample; Infinity when all frames are identical. */
  psnrDb: number;
  /** The worst single frame. */
  psnrMinDb: number;
  ssimMean: number;
  ssimMin: number;
}

export function fidelity(reference: readonly Uint8Array[], actual: readonly Uint8Array[], size: ImageSize): FidelityStats {
  assert(reference.length === actual.length && reference.length > 0, `comparing ${actual.length} frames with ${reference.length}`);
  let sse = 0;
  let samples = 0;
  let psnrMin = Infinity;
  let ssimSum = 0;
  let ssimMin = Infinity;
  for (let f = 0; f < reference.length; f++) {
    const r = reference[f]!;
    const a = actual[f]!;
    samples += r.length;
    // Identical frames: MSE 0 and SSIM exactly 1 (every term of the index is then x/x), so the
    // lossless checks skip SSIM's filtering, a quarter second per 480p frame on a busy 2-core host.
    if (r.length === a.length && Buffer.compare(r, a) === 0) {
      ssimSum += 1;
      ssimMin = Math.min(ssimMin, 1);
      continue;
    }
    sse += squaredErrorSum(r, a);
    psnrMin = Math.min(psnrMin, psnr(r, a));
    const s = ssim(r, a, size);
    ssimSum += s;
    ssimMin = Math.min(ssimMin, s);
  }
  return { frames: reference.length, psnrDb: psnrFromMse(sse / samples), psnrMinDb: psnrMin, ssimMean: ssimSum / reference.length, ssimMin };
}
