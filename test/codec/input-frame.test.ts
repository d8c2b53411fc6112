import { strict as assert } from "assert";
import sharp from "sharp";
import { decodeInputFrame } from "../../src/codec/input-frame";
import { syntheticFrame } from "../../src/codec/synthetic-frame";
import { ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";

const H = 480;
const W = 640;
const model = { height: H, width: W };
const rgb = syntheticFrame(H, W, 1);

const fromRaw = (data: Uint8Array, height: number, width: number, channels: 1 | 2 | 3 | 4) =>
  sharp(data, { raw: { height, width, channels } });

async function rejects(p: Promise<unknown>, reason: string, message: RegExp): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ServiceError, `expected a ServiceError, got ${String(err)}`);
    assert.equal(err.reason, reason);
    assert.match(err.message, message);
    return err;
  }
  assert.fail("expected a rejection");
}

describe("codec/decodeInputFrame", () => {
  it("decodes an RGB PNG losslessly (sniffed when UNSPECIFIED)", async () => {
    const png = await fromRaw(rgb, H, W, 3).png().toBuffer();
    const out = await decodeInputFrame({ encoding: "UNSPECIFIED", data: png }, model);
    assert.equal(out.length, H * W * 3);
    assert.ok(Buffer.from(out).equals(Buffer.from(rgb)));
  });

  it("drops alpha from an RGBA PNG", async () => {
    const rgba = new Uint8Array(H * W * 4);
    for (let i = 0; i < H * W; i++) {
      rgba.set(rgb.subarray(i * 3, i * 3 + 3), i * 4);
      rgba[i * 4 + 3] = i % 256;
    }
    const png = await fromRaw(rgba, H, W, 4).png().toBuffer();
    const out = await decodeInputFrame({ encoding: "PNG", data: png }, model);
    assert.ok(Buffer.from(out).equals(Buffer.from(rgb)));
  });

  it("turns grey, grey+alpha, palette and 16-bit PNGs into 8-bit RGB", async () => {
    const grey = new Uint8Array(H * W).map((_, i) => i % 251);
    const greyPng = await fromRaw(grey, H, W, 1).png().toBuffer();
    const g = await decodeInputFrame({ encoding: "PNG", data: greyPng }, model);
    assert.equal(g.length, H * W * 3);
    for (const i of [0, 1000, H * W - 1]) assert.deepEqual([g[i * 3], g[i * 3 + 1], g[i * 3 + 2]], [grey[i], grey[i], grey[i]]);

    const ga = new Uint8Array(H * W * 2).map((_, i) => (i % 2 ? 128 : grey[i >> 1]!));
    const greyAlpha = await fromRaw(ga, H, W, 2).toColourspace("b-w").png().toBuffer();
    assert.equal((await sharp(greyAlpha).metadata()).channels, 2);
    assert.equal((await decodeInputFrame({ encoding: "PNG", data: greyAlpha }, model)).length, H * W * 3);

    const palette = await fromRaw(rgb, H, W, 3).png({ palette: true, effort: 1 }).toBuffer();
    assert.equal((await sharp(palette).metadata()).isPalette, true);
    assert.equal((await decodeInputFrame({ encoding: "PNG", data: palette }, model)).length, H * W * 3);

    const png16 = await fromRaw(rgb, H, W, 3).toColourspace("rgb16").png().toBuffer();
    assert.equal((await sharp(png16).metadata()).depth, "ushort");
    const d16 = await decodeInputFrame({ encoding: "PNG", data: png16 }, model);
    assert.equal(d16.length, H * W * 3);
    assert.ok(Buffer.from(d16).equals(Buffer.from(rgb)), "8 → 16 → 8 bit must round-trip");
  });

  it("decodes a JPEG to the model size", async () => {
    const jpg = await fromRaw(rgb, H, W, 3).jpeg({ quality: 90 }).toBuffer();
    const out = await decodeInputFrame({ encoding: "UNSPECIFIED", data: jpg }, model);
    assert.equal(out.length, H * W * 3);
    let err = 0;
    for (let i = 0; i < out.length; i++) err += Math.abs(out[i]! - rgb[i]!);
    assert.ok(err / out.length < 6, `mean abs error ${err / out.length}`);
  });

  it("rejects a 640x480 frame for a 480x640 model (never resizes), before decoding", async () => {
    const png = await fromRaw(syntheticFrame(W, H), W, H, 3).png().toBuffer();
    const err = await rejects(
      decodeInputFrame({ encoding: "PNG", data: png }, model),
      "INVALID_ARGUMENT",
      /^start_frame: expected 480x640 \(HxW\) RGB, got 640x480$/,
    );
    assert.deepEqual(err.details, { field: "start_frame", expected: "480x640", given: "640x480" });
    const jpg = await fromRaw(syntheticFrame(W, H), W, H, 3).jpeg().toBuffer();
    await rejects(decodeInputFrame({ encoding: "JPEG", data: jpg }, model), "INVALID_ARGUMENT", /got 640x480/);
  });

  it("rejects a decompression bomb from its header alone", async () => {
    // A valid PNG signature + IHDR claiming 50000x50000, and nothing else: no pixel is allocated.
    const png = await fromRaw(rgb, H, W, 3).png().toBuffer();
    const bomb = Buffer.from(png.subarray(0, 33));
    bomb.writeUInt32BE(50000, 16);
    bomb.writeUInt32BE(50000, 20);
    await rejects(decodeInputFrame({ encoding: "UNSPECIFIED", data: bomb }, model), "INVALID_ARGUMENT", /got 50000x50000/);
  });

  it("rejects undecodable bytes with a clear message", async () => {
    await rejects(
      decodeInputFrame({ encoding: "UNSPECIFIED", data: Buffer.from("hello world, not an image") }, model),
      "INVALID_ARGUMENT",
      /^start_frame: not a decodable PNG or JPEG \(unrecognised leading bytes 0x68656c6c\)$/,
    );
    const png = await fromRaw(rgb, H, W, 3).png().toBuffer();
    await rejects(
      decodeInputFrame({ encoding: "PNG", data: png.subarray(0, png.length >> 1) }, model),
      "INVALID_ARGUMENT",
      /^start_frame: not a decodable PNG or JPEG \(PNG: /,
    );
    await rejects(decodeInputFrame({ encoding: "PNG", data: new Uint8Array(0) }, model), "INVALID_ARGUMENT", /empty frame/);
    await rejects(decodeInputFrame({ encoding: "UNSPECIFIED", data: rgb }, model), "INVALID_ARGUMENT", /send it as RAW_RGB8 with height and width/);
  });

  it("rejects a declared encoding or size that disagrees with the bytes", async () => {
    const jpg = await fromRaw(rgb, H, W, 3).jpeg().toBuffer();
    await rejects(decodeInputFrame({ encoding: "PNG", data: jpg }, model), "INVALID_ARGUMENT", /declared PNG but the bytes are JPEG/);
    await rejects(
      decodeInputFrame({ encoding: "JPEG", data: jpg, height: 480, width: 480 }, model),
      "INVALID_ARGUMENT",
      /height\/width say 480x480 but the JPEG is 480x640/,
    );
  });

  it("passes RAW_RGB8 through without a copy and checks its size", async () => {
    const out = await decodeInputFrame({ encoding: "RAW_RGB8", data: rgb, height: H, width: W }, model);
    assert.equal(out, rgb);
    await rejects(decodeInputFrame({ encoding: "RAW_RGB8", data: rgb }, model), "INVALID_ARGUMENT", /RAW_RGB8 needs height and width/);
    await rejects(
      decodeInputFrame({ encoding: "RAW_RGB8", data: rgb.subarray(1), height: H, width: W }, model),
      "INVALID_ARGUMENT",
      /^start_frame: RAW_RGB8 480x640 needs 921600 bytes \(H\*W\*3\), got 921599$/,
    );
    await rejects(
      decodeInputFrame({ encoding: "RAW_RGB8", data: rgb, height: W, width: H }, model),
      "INVALID_ARGUMENT",
      /expected 480x640 \(HxW\) RGB, got 640x480/,
    );
  });

  it("refuses frames over limits.frameBytesMax", async () => {
    const big = new Uint8Array(limits.frameBytesMax + 1);
    await rejects(decodeInputFrame({ encoding: "PNG", data: big }, model), "PAYLOAD_TOO_LARGE", /over the 16777216-byte limit/);
  });
});
