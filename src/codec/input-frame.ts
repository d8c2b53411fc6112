// Input frames (the rollout's start frame) → raw RGB8 at exactly the model's resolution.
//
// We REJECT a frame of the wrong size and never resize it: a silently resized or transposed camera
// frame produces a plausible-looking but wrong rollout, which is worse than an error. The declared
// size is read from the header before any pixel is decoded, so wrong-size frames and decompression
// bombs cost nothing; sharp's limitInputPixels is the second fence.

import sharp from "sharp";
import type { OutputInfo } from "sharp";
import { ServiceError, invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import { ImageFormat, ImageSize, readImageSize, sniffImageFormat } from "./image-header";
import { imagePool } from "./pools";

export type InputEncoding = "UNSPECIFIED" | "RAW_RGB8" | "PNG" | "JPEG";

export interface InputFrame {
  encoding: InputEncoding;
  data: Uint8Array;
  /** Required for RAW_RGB8; optional for PNG/JPEG (then it must match the image). 0 = unset. */
  height?: number;
  width?: number;
}

const hw = (s: ImageSize): string => `${s.height}x${s.width}`;

function sizeMismatch(field: string, expected: ImageSize, given: ImageSize, what = "RGB"): ServiceError {
  return invalidArgument(field, `expected ${hw(expected)} (HxW) ${what}, got ${hw(given)}`, {
    expected: hw(expected),
    given: hw(given),
  });
}

/**
 * Decode a PNG/JPEG/raw frame to interleaved RGB8 (H*W*3 bytes). Alpha is dropped; grey and palette
 * images become RGB. RAW_RGB8 input is returned as is (zero-copy; the caller must not mutate it).
 */
export async function decodeInputFrame(
  input: InputFrame,
  expected: ImageSize,
  field = "start_frame",
): Promise<Uint8Array> {
  const { data } = input;
  if (data.length === 0) throw invalidArgument(field, "empty frame");
  if (data.length > limits.frameBytesMax) {
    throw new ServiceError(
      "PAYLOAD_TOO_LARGE",
      `${field}: ${data.length} bytes is over the ${limits.frameBytesMax}-byte limit for one frame`,
      { field, limit: limits.frameBytesMax, given: data.length },
    );
  }
  const declared = declaredSize(input);
  if (input.encoding === "RAW_RGB8") return checkRaw(data, declared, expected, field);

  const format = sniffImageFormat(data);
  if (format === undefined) {
    const head = Buffer.from(data.subarray(0, 4)).toString("hex");
    const rawHint =
      data.length === expected.height * expected.width * 3 ? "; it has the length of a raw frame: send it as RAW_RGB8 with height and width" : "";
    throw invalidArgument(field, `not a decodable PNG or JPEG (unrecognised leading bytes 0x${head})${rawHint}`);
  }
  if (input.encoding !== "UNSPECIFIED" && input.encoding !== format) {
    throw invalidArgument(field, `declared ${input.encoding} but the bytes are ${format}`, {
      expected: input.encoding,
      given: format,
    });
  }
  const size = readImageSize(data, format);
  if (size === undefined) throw invalidArgument(field, `not a decodable PNG or JPEG (${format} header is malformed)`);
  if (size.height !== expected.height || size.width !== expected.width) throw sizeMismatch(field, expected, size);
  if (declared && (declared.height !== size.height || declared.width !== size.width)) {
    throw invalidArgument(field, `height/width say ${hw(declared)} but the ${format} is ${hw(size)}`, {
      expected: hw(size),
      given: hw(declared),
    });
  }
  return imagePool.run(() => decodeWithSharp(data, format, expected, field));
}

function declaredSize(input: InputFrame): ImageSize | undefined {
  const height = input.height ?? 0;
  const width = input.width ?? 0;
  return height > 0 || width > 0 ? { height, width } : undefined;
}

function checkRaw(data: Uint8Array, declared: ImageSize | undefined, expected: ImageSize, field: string): Uint8Array {
  if (!declared || declared.height <= 0 || declared.width <= 0) {
    throw invalidArgument(field, "RAW_RGB8 needs height and width", { expected: hw(expected) });
  }
  if (declared.height !== expected.height || declared.width !== expected.width) {
    throw sizeMismatch(field, expected, declared);
  }
  const need = expected.height * expected.width * 3;
  if (data.length !== need) {
    throw invalidArgument(
      field,
      `RAW_RGB8 ${hw(expected)} needs ${need} bytes (H*W*3), got ${data.length}`,
      { expected_bytes: need, given_bytes: data.length },
    );
  }
  return data;
}

async function decodeWithSharp(
  data: Uint8Array,
  format: ImageFormat,
  expected: ImageSize,
  field: string,
): Promise<Uint8Array> {
  let out: { data: Buffer; info: OutputInfo };
  try {
    out = await sharp(data, {
      // The header said expected.height*expected.width; refuse anything bigger in case it lied.
      limitInputPixels: expected.height * expected.width,
      failOn: "warning", // sharp's advice for untrusted input: truncated/corrupt data is an error
      sequentialRead: true,
    })
      // Deliberately no autoOrient: the model sees the stored pixel grid, the same one the header
      // size check just validated. Rotating by EXIF would make the check and the decode disagree.
      .removeAlpha()
      .toColourspace("srgb") // grey, palette, CMYK and 16-bit inputs → 8-bit sRGB
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    const why = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw invalidArgument(field, `not a decodable PNG or JPEG (${format}: ${why})`);
  }
  const { info } = out;
  if (info.width !== expected.width || info.height !== expected.height) {
    throw sizeMismatch(field, expected, { height: info.height, width: info.width });
  }
  if (info.channels !== 3 || out.data.length !== expected.height * expected.width * 3) {
    throw new ServiceError("INTERNAL", `${field}: decoder produced ${info.channels} channels, expected 3`);
  }
  return out.data;
}
