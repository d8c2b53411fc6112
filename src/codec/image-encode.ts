// Per-frame output encoders: raw (zero-copy), PNG (lossless) and JPEG. Where sharp's libvips can be
// called directly (vips-native.ts) the encodes run on encoder threads, a turn's frames batched per
// thread (encoder-pool.ts); otherwise, or with the encoder threads set to 0, each frame is one sharp
// call on a libuv thread, bounded by imagePool. Both paths make the same bytes with the same options.

import sharp from "sharp";
import type { Sharp } from "sharp";
import { assert } from "../core/assert";
import { ServiceError, invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import { EncoderPool, threadsFor } from "./encoder-pool";
import { ImageSize } from "./image-header";
import { imagePool } from "./pools";
import { loadVipsEncoder } from "./vips-native";

export type FrameOutputEncoding = "RAW_RGB8" | "PNG" | "JPEG";

export interface EncodedFrame {
  encoding: FrameOutputEncoding;
  data: Uint8Array;
  /** The quality actually used (JPEG only). */
  jpegQuality?: number;
}

export const JPEG_QUALITY_DEFAULT = 90;

// zlib level 2 with adaptive (per-row) filtering. `node --import tsx bench/codecs-encode.ts --png-sweep`
// on the textured 480x640 frame (2 noisy cores): level 1 unfiltered ~20 ms / 845 KiB (barely below
// raw), level 1 filtered ~22 ms / 480 KiB, level 2 filtered ~25-28 ms / 320 KiB, level 3 ~31 ms /
// 293 KiB, level 6 ~140 ms / 279 KiB. Level 2 is the knee: PNG is the "lossless but well under raw"
// option, so speed wins over the last few percent.
export const PNG_COMPRESSION_LEVEL = 2;
export const PNG_ADAPTIVE_FILTERING = true;

/** 0/undefined → the default (90); otherwise it must lie in limits.jpegQualityMin..Max. */
export function resolveJpegQuality(quality: number | undefined, field = "output.jpeg_quality"): number {
  if (quality === undefined || quality === 0) return JPEG_QUALITY_DEFAULT;
  if (!Number.isInteger(quality) || quality < limits.jpegQualityMin || quality > limits.jpegQualityMax) {
    throw invalidArgument(field, `must be an integer in ${limits.jpegQualityMin}..${limits.jpegQualityMax}, got ${quality}`, {
      given: quality,
    });
  }
  return quality;
}

function rawInput(rgb: Uint8Array, size: ImageSize): Sharp {
  assert(rgb.length === size.height * size.width * 3, `frame is ${rgb.length} bytes, expected ${size.height}x${size.width}x3`);
  return sharp(rgb, { raw: { width: size.width, height: size.height, channels: 3 } });
}

async function encodeWith(what: string, build: () => Sharp): Promise<Buffer> {
  return imagePool.run(async () => {
    try {
      return await build().toBuffer();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ServiceError("ENGINE_FAILURE", `${what} encode failed: ${why}`);
    }
  });
}

// undefined: not decided yet (the first encode sizes it for a host whose ORT threads are unknown);
// null: encoder threads off or libvips not loadable here, so sharp encodes.
let pool: EncoderPool | null | undefined;

/**
 * Sizes the encoder threads: `threads` 0 turns them off (every encode is a sharp call); otherwise
 * threadsFor(intraOpThreads) unless `threads` is given. Replaces a pool already running, which ends
 * once the frames it holds are encoded.
 */
export function configureFrameEncoders(options: { threads?: number; intraOpThreads?: number }): { threads: number; native: boolean } {
  const old = pool;
  const threads = options.threads ?? threadsFor(options.intraOpThreads);
  pool = threads > 0 && loadVipsEncoder() !== undefined ? new EncoderPool(threads) : null;
  void old?.closeWhenDone();
  return { threads: pool?.size ?? 0, native: pool !== null };
}

/** Ends the encoder threads once the frames they hold are encoded; a later encode starts a default pool again. */
export async function closeFrameEncoders(): Promise<void> {
  const old = pool;
  pool = undefined;
  await old?.closeWhenDone();
}

export function frameEncoderStats(): ReturnType<EncoderPool["stats"]> | undefined {
  return pool ? pool.stats() : undefined;
}

function encoderPool(): EncoderPool | null {
  if (pool === undefined) configureFrameEncoders({});
  return pool!;
}

async function encodeOnPool(what: string, p: EncoderPool, run: (p: EncoderPool) => Promise<Uint8Array>): Promise<Buffer> {
  try {
    const out = await run(p);
    return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ServiceError("ENGINE_FAILURE", `${what} encode failed: ${why}`);
  }
}

export function encodePng(rgb: Uint8Array, size: ImageSize, compressionLevel = PNG_COMPRESSION_LEVEL): Promise<Buffer> {
  const adaptiveFiltering = PNG_ADAPTIVE_FILTERING && compressionLevel > 0;
  const p = encoderPool();
  if (p !== null) return encodeOnPool("PNG", p, (q) => q.encode("png", checked(rgb, size), size.width, size.height, compressionLevel, adaptiveFiltering));
  return encodePngWithSharp(rgb, size, compressionLevel);
}

export function encodeJpeg(rgb: Uint8Array, size: ImageSize, quality = JPEG_QUALITY_DEFAULT): Promise<Buffer> {
  const p = encoderPool();
  if (p !== null) return encodeOnPool("JPEG", p, (q) => q.encode("jpeg", checked(rgb, size), size.width, size.height, quality));
  return encodeJpegWithSharp(rgb, size, quality);
}

/** The sharp path on its own (the fallback; benches compare against it). */
export function encodePngWithSharp(rgb: Uint8Array, size: ImageSize, compressionLevel = PNG_COMPRESSION_LEVEL): Promise<Buffer> {
  return encodeWith("PNG", () =>
    rawInput(rgb, size).png({ compressionLevel, adaptiveFiltering: PNG_ADAPTIVE_FILTERING && compressionLevel > 0 }),
  );
}

export function encodeJpegWithSharp(rgb: Uint8Array, size: ImageSize, quality = JPEG_QUALITY_DEFAULT): Promise<Buffer> {
  return encodeWith("JPEG", () => rawInput(rgb, size).jpeg({ quality, chromaSubsampling: "4:2:0" }));
}

function checked(rgb: Uint8Array, size: ImageSize): Uint8Array {
  assert(rgb.length === size.height * size.width * 3, `frame is ${rgb.length} bytes, expected ${size.height}x${size.width}x3`);
  return rgb;
}

/** Encode one RGB8 frame. RAW_RGB8 returns the same bytes (no copy, no pool slot). */
export async function encodeFrame(
  rgb: Uint8Array,
  size: ImageSize,
  options: { encoding: FrameOutputEncoding; jpegQuality?: number },
): Promise<EncodedFrame> {
  switch (options.encoding) {
    case "RAW_RGB8":
      assert(rgb.length === size.height * size.width * 3, "raw frame has the wrong byte length");
      return { encoding: "RAW_RGB8", data: rgb };
    case "PNG":
      return { encoding: "PNG", data: await encodePng(rgb, size) };
    case "JPEG": {
      const jpegQuality = resolveJpegQuality(options.jpegQuality);
      return { encoding: "JPEG", data: await encodeJpeg(rgb, size, jpegQuality), jpegQuality };
    }
  }
}
