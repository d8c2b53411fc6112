// SSIM as Wang, Bovik, Sheikh & Simoncelli (2004) define it and their reference ssim_index.m computes
// it: an 11×11 circular Gaussian window (σ = 1.5, normalised to sum 1), K1 = 0.01, K2 = 0.03, L = 255,
// statistics over every window that fits inside the image ('valid' filtering, no padding), the mean
// of the SSIM map as the index, and no downsampling (the later ssim.m shrinks images larger than 256
// px first; that changes the figure, so we do not).
//
// Colour: SSIM is defined on one channel. We compute it on luma Y = 0.298936·R + 0.587043·G +
// 0.114021·B (ITU-R BT.601 weights, as MATLAB's rgb2gray uses them) rounded to an integer, exactly as
// rgb2gray does for uint8 input — so the figure is the one ssim_index.m gives for rgb2gray(image), and
// the one ssim.js gives with { ssim: "original", downsample: false, rgb2grayVersion: "original" }.
// Per-channel SSIM (averaged) reads a little lower on chroma-subsampled codecs (JPEG, H.264 4:2:0);
// the luma figure is the conventional one for video.
//
// The Gaussian is separable, so the five local moments are filtered with a 1-D window along rows then
// columns: 22 taps per pixel instead of 121.
import { assert } from "../core/assert";

export const SSIM_WINDOW = 11;
export const SSIM_SIGMA = 1.5;
export const SSIM_K1 = 0.01;
export const SSIM_K2 = 0.03;
export const SSIM_L = 255;
/** rgb2gray's coefficients (BT.601 luma). */
export const LUMA_WEIGHTS = [0.298936021293775, 0.587043074451121, 0.114020904255103] as const;

export interface ImageSize {
  height: number;
  width: number;
}

/** Interleaved RGB8 (H*W*3) → integer luma (H*W), rounded half up like rgb2gray. */
export function lumaOf(rgb: Uint8Array, size: ImageSize): Float64Array {
  const n = size.height * size.width;
  assert(rgb.length === n * 3, `frame is ${rgb.length} bytes, expected ${size.height}x${size.width}x3`);
  const [wr, wg, wb] = LUMA_WEIGHTS;
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = Math.floor(wr * rgb[3 * i]! + wg * rgb[3 * i + 1]! + wb * rgb[3 * i + 2]! + 0.5);
  return y;
}

function gaussian1d(size: number, sigma: number): Float64Array {
  const w = new Float64Array(size);
  const c = (size - 1) / 2;
  let sum = 0;
  for (let i = 0; i < size; i++) sum += w[i] = Math.exp(-((i - c) ** 2) / (2 * sigma * sigma));
  for (let i = 0; i < size; i++) w[i]! /= sum;
  return w;
}

const WINDOW_1D = gaussian1d(SSIM_WINDOW, SSIM_SIGMA);

/** 'valid' separable filter of an H×W plane → (H-10)×(W-10). */
function filterValid(src: Float64Array, h: number, w: number, rows: Float64Array, out: Float64Array): void {
  const n = SSIM_WINDOW;
  const ow = w - n + 1;
  const oh = h - n + 1;
  // Along each row into `rows` (H × ow), then down each column into `out` (oh × ow).
  for (let y = 0; y < h; y++) {
    const base = y * w;
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += WINDOW_1D[k]! * src[base + x + k]!;
      rows[y * ow + x] = s;
    }
  }
  for (let y = 0; y < oh; y++) {
    for (let x = 0; x < ow; x++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += WINDOW_1D[k]! * rows[(y + k) * ow + x]!;
      out[y * ow + x] = s;
    }
  }
}

/** Mean SSIM of two single-channel planes (values 0..255), each H*W. */
export function ssimPlane(a: Float64Array, b: Float64Array, size: ImageSize): number {
  const { height: h, width: w } = size;
  assert(a.length === h * w && b.length === h * w, "planes do not match the size");
  assert(h >= SSIM_WINDOW && w >= SSIM_WINDOW, `SSIM needs images of at least ${SSIM_WINDOW}x${SSIM_WINDOW}, got ${h}x${w}`);
  const n = h * w;
  const aa = new Float64Array(n);
  const bb = new Float64Array(n);
  const ab = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    aa[i] = a[i]! * a[i]!;
    bb[i] = b[i]! * b[i]!;
    ab[i] = a[i]! * b[i]!;
  }
  const ow = w - SSIM_WINDOW + 1;
  const oh = h - SSIM_WINDOW + 1;
  const rows = new Float64Array(h * ow);
  const [muA, muB, sAA, sBB, sAB] = Array.from({ length: 5 }, () => new Float64Array(oh * ow));
  filterValid(a, h, w, rows, muA!);
  filterValid(b, h, w, rows, muB!);
  filterValid(aa, h, w, rows, sAA!);
  filterValid(bb, h, w, rows, sBB!);
  filterValid(ab, h, w, rows, sAB!);
  const c1 = (SSIM_K1 * SSIM_L) ** 2;
  const c2 = (SSIM_K2 * SSIM_L) ** 2;
  let sum = 0;
  for (let i = 0; i < oh * ow; i++) {
    const ma = muA![i]!;
    const mb = muB![i]!;
    const varA = sAA![i]! - ma * ma;
    const varB = sBB![i]! - mb * mb;
    const cov = sAB![i]! - ma * mb;
    sum += ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (varA + varB + c2));
  }
  return sum / (oh * ow);
}

/** SSIM of two interleaved RGB8 frames on their luma; 1 for identical frames. */
export function ssim(a: Uint8Array, b: Uint8Array, size: ImageSize): number {
  return ssimPlane(lumaOf(a, size), lumaOf(b, size), size);
}
