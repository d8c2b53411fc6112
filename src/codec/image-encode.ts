// Per-frame output encoders: raw (zero-copy), PNG (lossless) and JPEG. sharp runs each call on a
// libuv worker thread, so the event loop only pays for the call set-up; imagePool bounds how many
// frames (and their input/output buffers) are in flight at once.

import sharp from "sharp";
import type { Sharp } from "sharp";
import { assert } from "../core/assert";
import { ServiceError, invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import { ImageSize } from "./image-header";
import { imagePool } from "./pools";

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

export function encodePng(rgb: Uint8Array, size: ImageSize, compressionLevel = PNG_COMPRESSION_LEVEL): Promise<Buffer> {
  return encodeWith("PNG", () =>
    rawInput(rgb, size).png({ compressionLevel, adaptiveFiltering: PNG_ADAPTIVE_FILTERING && compressionLevel > 0 }),
  );
}

export function encodeJpeg(rgb: Uint8Array, size: ImageSize, quality = JPEG_QUALITY_DEFAULT): Promise<Buffer> {
  return encodeWith("JPEG", () => rawInput(rgb, size).jpeg({ quality, chromaSubsampling: "4:2:0" }));
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
