// JPEG/PNG on encoder threads (src/codec/encoder-pool.ts over vips-native.ts): the same bytes as the
// sharp path for the same options, a turn's frames batched per thread, views into a shared buffer
// encoded as their own frames, thread counts sized against ORT's threads, failures as ServiceErrors.
import { strict as assert } from "node:assert";
import { EncoderPool, threadsFor } from "../../src/codec/encoder-pool";
import { closeFrameEncoders, configureFrameEncoders, encodeJpeg, encodeJpegWithSharp, encodePng, encodePngWithSharp, frameEncoderStats } from "../../src/codec/image-encode";
import { syntheticFrame } from "../../src/codec/synthetic-frame";
import { loadVipsEncoder } from "../../src/codec/vips-native";
import { limits } from "../../src/core/limits";

describe("codec/encoder threads", function () {
  this.timeout(60_000);
  before(function () {
    if (loadVipsEncoder() === undefined) this.skip(); // no sharp libvips on this platform: sharp encodes
  });
  afterEach(() => closeFrameEncoders());

  it("make the same JPEG and PNG bytes as sharp with the same options", async () => {
    assert.deepEqual(configureFrameEncoders({ threads: 2 }), { threads: 2, native: true });
    for (const size of [{ height: 48, width: 64 }, { height: 37, width: 53 }, { height: 480, width: 640 }]) {
      const rgb = syntheticFrame(size.height, size.width, 2);
      for (const q of [90, 20, 100]) assert.ok((await encodeJpeg(rgb, size, q)).equals(await encodeJpegWithSharp(rgb, size, q)), `JPEG q${q} ${size.height}x${size.width}`);
      for (const level of [0, 2, 6]) assert.ok((await encodePng(rgb, size, level)).equals(await encodePngWithSharp(rgb, size, level)), `PNG level ${level} ${size.height}x${size.width}`);
    }
  });

  it("batches one turn's frames, and encodes views into one shared buffer as separate frames", async () => {
    configureFrameEncoders({ threads: 1 });
    const size = { height: 48, width: 64 };
    const frameBytes = 48 * 64 * 3;
    const shared = new Uint8Array(frameBytes * 24);
    for (let i = 0; i < 24; i++) shared.set(syntheticFrame(48, 64, i), i * frameBytes);
    const views = Array.from({ length: 24 }, (_, i) => shared.subarray(i * frameBytes, (i + 1) * frameBytes));
    const before = frameEncoderStats()?.batches ?? 0;
    const got = await Promise.all(views.map((v) => encodeJpeg(v, size, 90)));
    const stats = frameEncoderStats()!;
    assert.equal(stats.batches - before, 1, "24 frames asked for in one turn go to the one thread as one batch");
    for (let i = 0; i < 24; i++) assert.ok(got[i]!.equals(await encodeJpegWithSharp(views[i]!, size, 90)), `frame ${i}`);
    assert.equal(shared.byteLength, frameBytes * 24, "the shared buffer is read in place, never detached");
    assert.equal(stats.inFlightBytes, 0);
  });

  it("splits a batch by limits.encodeBatchBytesMax", async () => {
    const pool = new EncoderPool(1);
    try {
      const frame = syntheticFrame(480, 640, 1);
      const n = Math.floor(limits.encodeBatchBytesMax / frame.byteLength) + 2;
      await Promise.all(Array.from({ length: n }, () => pool.encode("jpeg", frame, 640, 480, 90)));
      assert.equal(pool.stats().batches, 2);
      assert.equal(pool.stats().framesEncoded, n);
    } finally {
      await pool.close();
    }
  });

  it("sizes the threads as the cores ORT leaves free, at least one", () => {
    assert.equal(threadsFor(undefined, 16), 1, "ORT's default intra-op pool takes every core");
    assert.equal(threadsFor(12, 16), 4);
    assert.equal(threadsFor(16, 16), 1);
    assert.equal(threadsFor(1, 64), limits.encodeThreadsMax);
    assert.deepEqual(configureFrameEncoders({ threads: 0 }), { threads: 0, native: false }, "0 turns them off: sharp encodes");
  });

  it("a replaced or stopped pool still encodes the frames it holds, then ends", async () => {
    configureFrameEncoders({ threads: 1 });
    const size = { height: 48, width: 64 };
    const frame = syntheticFrame(48, 64, 4);
    const held = Array.from({ length: 12 }, () => encodeJpeg(frame, size, 90));
    configureFrameEncoders({ threads: 1 }); // another app in the same process starting up
    const later = encodeJpeg(frame, size, 90);
    const stopped = closeFrameEncoders(); // ... and one stopping
    const want = await encodeJpegWithSharp(frame, size, 90);
    for (const out of [...(await Promise.all(held)), await later]) assert.ok(out.equals(want));
    await stopped;
  });

  it("asserts on a frame of the wrong size (a programmer error), and a closed pool refuses work", async () => {
    const pool = new EncoderPool(1);
    assert.throws(() => pool.encode("jpeg", new Uint8Array(10), 64, 48, 90), /expected 48x64x3/);
    await pool.close();
    await assert.rejects(pool.encode("jpeg", syntheticFrame(48, 64, 0), 64, 48, 90), /closed/);
  });
});
