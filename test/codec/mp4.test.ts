import { strict as assert } from "assert";
import { mkdtempSync, readdirSync, rmSync } from "fs";
import { join } from "path";
import { tmpdir } from "os";
import { decodeMp4 } from "../../src/codec/mp4-decode";
import { Mp4Encoder, openMp4Encoder, openMp4Encoders } from "../../src/codec/mp4-encoder";
import { Mp4ParseError, probeMp4 } from "../../src/codec/mp4-probe";
import { codecPoolStats } from "../../src/codec/pools";
import { syntheticFrame } from "../../src/codec/synthetic-frame";
import { ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";

const H = 480;
const W = 640;
const FPS = 10;
const N = 49;

function topLevelBoxes(buf: Buffer): string[] {
  const out: string[] = [];
  for (let o = 0; o + 8 <= buf.length; ) {
    out.push(buf.toString("latin1", o + 4, o + 8));
    const size = buf.readUInt32BE(o);
    if (size < 8) break;
    o += size;
  }
  return out;
}

function meanAbsError(a: Uint8Array, b: Uint8Array): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e += Math.abs(a[i]! - b[i]!);
  return e / a.length;
}

// Encoders in this file write their temp files into a private directory, so "nothing left behind"
// is checkable without racing other processes that use os.tmpdir().
const TMP = mkdtempSync(join(tmpdir(), "codec-mp4-test-"));
const ourTempFiles = () => readdirSync(TMP);

async function encode(frames: Uint8Array[], enc: Mp4Encoder): Promise<Buffer> {
  for (const f of frames) await enc.push(f); // frames stream in one at a time, as a rollout produces them
  return enc.finish();
}

describe("codec/MP4 (H.264 via the npm ffmpeg)", () => {
  const frames = Array.from({ length: N }, (_, t) => syntheticFrame(H, W, t));
  let mp4: Buffer;

  after(() => rmSync(TMP, { recursive: true, force: true }));

  before(async () => {
    mp4 = await encode(frames, await openMp4Encoder({ height: H, width: W, fps: FPS, tmpDir: TMP }));
  });

  it("49 frames of 480x640 decode back to 49 frames of 480x640 at 10 fps", async () => {
    const info = probeMp4(mp4);
    assert.deepEqual(
      { codec: info.codec, width: info.width, height: info.height, frames: info.frameCount, fps: info.fps, fragmented: info.fragmented },
      { codec: "avc1", width: W, height: H, frames: N, fps: FPS, fragmented: false },
    );
    assert.ok(Math.abs(info.durationS - N / FPS) < 1e-6);
    const dec = await decodeMp4(mp4);
    assert.equal(dec.frameCount, N);
    assert.equal(dec.frames.length, N);
    assert.deepEqual([dec.height, dec.width, dec.fps], [H, W, FPS]);
    for (const f of dec.frames) assert.equal(f.length, H * W * 3);
    // Lossy but faithful: yuv420p + crf 23 on a textured frame stays within a few levels on average.
    for (const i of [0, 24, 48]) {
      const e = meanAbsError(dec.frames[i]!, frames[i]!);
      assert.ok(e < 8, `frame ${i}: mean abs error ${e.toFixed(2)}`);
    }
  });

  it("is a plain MP4 with the moov box up front (faststart), and no temp file is left behind", () => {
    const top = topLevelBoxes(mp4);
    assert.ok(top.indexOf("moov") >= 0 && top.indexOf("moov") < top.indexOf("mdat"), `box order: ${top.join(",")}`);
    assert.deepEqual(ourTempFiles(), []);
  });

  it("same frames → same bytes (bitexact muxing)", async () => {
    const again = await encode(frames.slice(0, 5), await openMp4Encoder({ height: H, width: W, fps: FPS, tmpDir: TMP }));
    const again2 = await encode(frames.slice(0, 5), await openMp4Encoder({ height: H, width: W, fps: FPS, tmpDir: TMP }));
    assert.ok(again.equals(again2));
  });

  it("fragmented layout (pipe, no temp file) also decodes to the right frames and fps", async () => {
    const frag = await encode(frames.slice(0, 12), await openMp4Encoder({ height: H, width: W, fps: FPS, layout: "fragmented", tmpDir: TMP }));
    const info = probeMp4(frag);
    assert.equal(info.fragmented, true);
    assert.equal(info.frameCount, 12);
    assert.equal(info.fps, FPS);
    const dec = await decodeMp4(frag);
    assert.equal(dec.frames.length, 12);
  });

  it("abort kills ffmpeg, returns the pool permits and removes the temp file", async () => {
    const encs = await openMp4Encoders(3, { height: H, width: W, fps: FPS, tmpDir: TMP });
    assert.equal(codecPoolStats().video.inUse, 3);
    for (const e of encs) await e.push(frames[0]!);
    await Promise.all(encs.map((e) => e.abort()));
    await encs[0]!.abort(); // idempotent
    assert.equal(codecPoolStats().video.inUse, 0);
    assert.deepEqual(ourTempFiles(), []);
    await assert.rejects(encs[1]!.push(frames[0]!), (e: unknown) => e instanceof ServiceError && /push after finish\/abort/.test(e.message));
  });

  it("an ffmpeg failure becomes ENGINE_FAILURE with ffmpeg's own words", async () => {
    const enc = await openMp4Encoder({ height: H, width: W, fps: FPS, preset: "no-such-preset", tmpDir: TMP });
    const err = await encode(frames.slice(0, 3), enc).then(
      () => assert.fail("expected a failure"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServiceError);
    assert.equal(err.reason, "ENGINE_FAILURE");
    assert.match(err.message, /^MP4 encode failed: ffmpeg exited with code \d+/);
    assert.equal(codecPoolStats().video.inUse, 0);
    assert.deepEqual(ourTempFiles(), []);
  });

  it("finish without frames is an ENGINE_FAILURE, not an empty video", async () => {
    const enc = await openMp4Encoder({ height: 48, width: 64, fps: FPS, tmpDir: TMP });
    await assert.rejects(enc.finish(), (e: unknown) => e instanceof ServiceError && e.reason === "ENGINE_FAILURE" && /no frames/.test(e.message));
    assert.equal(codecPoolStats().video.inUse, 0);
  });

  it("refuses more encoders than the pool can ever hold instead of waiting forever", async () => {
    await assert.rejects(
      openMp4Encoders(limits.videoEncodersMax + 1, { height: 48, width: 64, fps: FPS, tmpDir: TMP }),
      (e: unknown) => e instanceof ServiceError && e.reason === "UNAVAILABLE",
    );
  });

  it("decodeMp4 and probeMp4 reject bytes that are not an MP4", async () => {
    assert.throws(() => probeMp4(Buffer.from("definitely not a video")), Mp4ParseError);
    assert.throws(() => probeMp4(mp4.subarray(0, mp4.readUInt32BE(0) + 100)), Mp4ParseError); // cut inside moov
    await assert.rejects(decodeMp4(Buffer.from("nope nope nope nope")), (e: unknown) => e instanceof ServiceError && e.reason === "INVALID_ARGUMENT" && /^video: not a readable MP4/.test(e.message));
  });
});
