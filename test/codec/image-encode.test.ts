import { strict as assert } from "assert";
import sharp from "sharp";
import { JPEG_QUALITY_DEFAULT, encodeFrame, encodePngWithSharp, resolveJpegQuality } from "../../src/codec/image-encode";
import { codecPoolStats } from "../../src/codec/pools";
import { syntheticFrame } from "../../src/codec/synthetic-frame";
import { ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";

const H = 480;
const W = 640;
const size = { height: H, width: W };
const rgb = syntheticFrame(H, W, 3);

describe("codec/encodeFrame", () => {
  it("RAW_RGB8 is a zero-copy passthrough", async () => {
    const out = await encodeFrame(rgb, size, { encoding: "RAW_RGB8" });
    assert.equal(out.data, rgb);
    assert.equal(out.encoding, "RAW_RGB8");
  });

  it("PNG round-trips losslessly", async () => {
    const out = await encodeFrame(rgb, size, { encoding: "PNG" });
    assert.equal(out.encoding, "PNG");
    assert.ok(out.data.length < rgb.length, "PNG should be smaller than raw for a textured frame");
    const { data, info } = await sharp(out.data).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual([info.height, info.width, info.channels], [H, W, 3]);
    assert.ok(data.equals(Buffer.from(rgb)));
  });

  it("JPEG reports the quality used and decodes to the right size", async () => {
    const def = await encodeFrame(rgb, size, { encoding: "JPEG" });
    assert.equal(def.jpegQuality, JPEG_QUALITY_DEFAULT);
    assert.equal(def.jpegQuality, 90);
    const low = await encodeFrame(rgb, size, { encoding: "JPEG", jpegQuality: 20 });
    assert.equal(low.jpegQuality, 20);
    assert.ok(low.data.length < def.data.length);
    const meta = await sharp(def.data).metadata();
    assert.deepEqual([meta.format, meta.height, meta.width, meta.channels], ["jpeg", H, W, 3]);
  });

  it("rejects a JPEG quality outside 1..100", () => {
    assert.equal(resolveJpegQuality(undefined), 90);
    assert.equal(resolveJpegQuality(0), 90); // proto3 default = unset
    assert.equal(resolveJpegQuality(1), 1);
    assert.equal(resolveJpegQuality(100), 100);
    for (const q of [101, -1, 50.5]) {
      assert.throws(() => resolveJpegQuality(q), (e: unknown) => e instanceof ServiceError && e.reason === "INVALID_ARGUMENT" && /jpeg_quality: must be an integer in 1\.\.100/.test(e.message));
    }
  });

  // The sharp path (where the encoder threads are off or libvips cannot be loaded; decodes always).
  it("never runs more sharp calls at once than limits.encodeConcurrencyMax", async () => {
    const small = syntheticFrame(48, 64, 0);
    const jobs = Array.from({ length: limits.encodeConcurrencyMax * 4 }, () => encodePngWithSharp(small, { height: 48, width: 64 }));
    assert.ok(codecPoolStats().image.inUse <= limits.encodeConcurrencyMax);
    assert.ok(codecPoolStats().image.waiting > 0, "excess jobs wait for a permit");
    await Promise.all(jobs);
    const s = codecPoolStats().image;
    assert.equal(s.inUse, 0);
    assert.ok(s.peak <= limits.encodeConcurrencyMax);
  });
});
