// PSNR between two uint8 images of the same shape (any channel layout: every byte is one sample),
// peak 255: 10·log10(255² / MSE). Identical images have MSE 0 and PSNR +Infinity — a verdict, not a
// number to average, so callers that pool frames pool the squared error first (see meanSquaredError).
import { assert } from "../core/assert";

export const PSNR_PEAK = 255;

/** Sum of squared byte differences; exact in a double for any frame the engine can make (< 2^53). */
export function squaredErrorSum(a: Uint8Array, b: Uint8Array): number {
  assert(a.length === b.length, `images differ in size: ${a.length} vs ${b.length} bytes`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    sum += d * d;
  }
  return sum;
}

export function meanSquaredError(a: Uint8Array, b: Uint8Array): number {
  assert(a.length > 0, "empty image");
  return squaredErrorSum(a, b) / a.length;
}

/** PSNR in dB from a mean squared error over 8-bit samples; +Infinity when the error is 0. */
export function psnrFromMse(mse: number): number {
  assert(mse >= 0, `negative MSE ${mse}`);
  return mse === 0 ? Infinity : 10 * Math.log10((PSNR_PEAK * PSNR_PEAK) / mse);
}

export function psnr(a: Uint8Array, b: Uint8Array): number {
  return psnrFromMse(meanSquaredError(a, b));
}
