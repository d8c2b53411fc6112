// Output (and input) codecs through the real server over gRPC: an MP4 from PredictBatch decodes back
// (container parser + npm-installed ffmpeg) to 49 frames of 480x640 at 10 fps; PNG output round-trips
// losslessly against the RAW_RGB8 output of the same request; JPEG reports its quality and decodes to
// the model's size; StreamPredict refuses MP4 before any money moves. Decoding in the test uses sharp.
import assert from "node:assert/strict";
import sharp from "sharp";
import { DreamError, packActions } from "../../clients/typescript/src";
import { decodeMp4, probeMp4 } from "../../src/codec";
import { FrameEncoding, type PredictBatchRequest, type PredictBatchResponse } from "../../src/gen/dream/v1/dream";
import { startHarness, testActions, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const FULL = "dream-reference-480p";

async function rawOf(image: Uint8Array): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { data, info } = await sharp(image).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

function psnr(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i]! - b[i]!;
    se += d * d;
  }
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

describe("e2e: output codecs on the 480x640 model", function () {
  this.timeout(300_000);
  let h: Harness;
  const frame = testFrame(480, 640);
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: frame, height: 480, width: 640 };
  const candidates = [packActions(testActions(48, 384, 0), 48, 384)];
  let raw: PredictBatchResponse;

  before(async () => {
    h = await startHarness({ DREAM_MODELS: FULL });
    raw = (await h.client.predictBatch({ model: FULL, startFrame, candidates, params: { numSteps: 0, seed: 21 } })).response;
    assert.equal(raw.rollouts[0]!.frames.length, 49);
  });
  after(async () => h?.stop());

  it("PredictBatch MP4 (K=1, T=48) decodes back to 49 frames of 480x640 at 10 fps that match the raw frames", async () => {
    const { response } = await h.client.predictBatch({ model: FULL, startFrame, candidates, params: { numSteps: 0, seed: 21 }, output: { encoding: FrameEncoding.MP4, jpegQuality: 0 } });
    const r = response.rollouts[0]!;
    assert.equal(r.encoding, FrameEncoding.MP4);
    assert.equal(r.frames.length, 0, "MP4 travels as one video, not per-frame bytes");
    assert.equal(r.frameCount, 49);
    assert.equal(response.summary?.frames, 49);
    assert.equal(response.summary?.fps, 10);
    const video = Buffer.from(r.video);
    assert.equal(video.subarray(4, 8).toString("latin1"), "ftyp", "an ISO-BMFF file");

    const info = probeMp4(video);
    assert.equal(info.codec, "avc1", "H.264");
    assert.equal(info.frameCount, 49);
    assert.equal(info.width, 640);
    assert.equal(info.height, 480);
    assert.equal(info.fps, 10);

    const decoded = await decodeMp4(video);
    assert.equal(decoded.frameCount, 49);
    assert.equal(decoded.frames.length, 49);
    assert.equal(decoded.width, 640);
    assert.equal(decoded.height, 480);
    assert.equal(decoded.fps, 10);
    // Lossy, but the same video: every decoded frame is close to the raw frame at the same index, and
    // clearly further from a different one (frames are in order, none dropped or duplicated).
    for (let i = 0; i < 49; i++) {
      assert.equal(decoded.frames[i]!.length, 480 * 640 * 3);
      const same = psnr(decoded.frames[i]!, raw.rollouts[0]!.frames[i]!);
      assert.ok(same > 30, `frame ${i}: PSNR ${same.toFixed(1)} dB against its raw frame`);
    }
    const far = psnr(decoded.frames[48]!, raw.rollouts[0]!.frames[0]!);
    const near = psnr(decoded.frames[48]!, raw.rollouts[0]!.frames[48]!);
    assert.ok(near > far, `last frame matches the last raw frame (${near.toFixed(1)} dB) better than the first (${far.toFixed(1)} dB)`);
  });

  it("PNG output round-trips losslessly at 480x640", async () => {
    const { response } = await h.client.predictBatch({ model: FULL, startFrame, candidates, params: { numSteps: 0, seed: 21 }, output: { encoding: FrameEncoding.PNG, jpegQuality: 0 } });
    const r = response.rollouts[0]!;
    assert.equal(r.encoding, FrameEncoding.PNG);
    assert.equal(r.frames.length, 49);
    for (let i = 0; i < 49; i++) {
      const d = await rawOf(r.frames[i]!);
      assert.equal(d.width, 640);
      assert.equal(d.height, 480);
      assert.equal(d.channels, 3);
      assert.ok(d.data.equals(Buffer.from(raw.rollouts[0]!.frames[i]!)), `PNG frame ${i} differs from the RAW_RGB8 frame`);
    }
  });
});

describe("e2e: output and input codecs on the tiny model", function () {
  this.timeout(120_000);
  let h: Harness;
  const H = 48;
  const W = 64;
  const frame = testFrame(H, W);
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: frame, height: H, width: W };
  const cands = (k: number, t: number) => Array.from({ length: k }, (_, i) => packActions(testActions(t, 384, i), t, 384));
  const req = (over: Partial<PredictBatchRequest> = {}) => ({ model: TINY, startFrame, candidates: cands(2, 30), params: { numSteps: 4, seed: 8 }, ...over });

  before(async () => {
    h = await startHarness();
  });
  after(async () => h?.stop());

  it("PNG output (PredictBatch and StreamPredict) equals RAW_RGB8 output byte for byte", async () => {
    const raw = (await h.client.predictBatch(req())).response;
    const png = (await h.client.predictBatch(req({ output: { encoding: FrameEncoding.PNG, jpegQuality: 0 } }))).response;
    const streamed: Uint8Array[][] = [[], []];
    const stream = h.client.streamPredict(req({ output: { encoding: FrameEncoding.PNG, jpegQuality: 0 } }));
    for await (const m of stream.messages) {
      if (m.event?.$case !== "chunk") continue;
      assert.equal(m.event.value.encoding, FrameEncoding.PNG);
      for (const c of m.event.value.candidates) streamed[c.candidateIndex]!.push(...c.frames);
    }
    for (let k = 0; k < 2; k++) {
      assert.equal(png.rollouts[k]!.frames.length, 31);
      assert.equal(streamed[k]!.length, 31);
      for (let i = 0; i < 31; i++) {
        const expected = Buffer.from(raw.rollouts[k]!.frames[i]!);
        assert.ok((await rawOf(png.rollouts[k]!.frames[i]!)).data.equals(expected), `batch PNG candidate ${k} frame ${i}`);
        assert.ok((await rawOf(streamed[k]![i]!)).data.equals(expected), `streamed PNG candidate ${k} frame ${i}`);
      }
    }
  });

  it("JPEG output reports the quality used (requested or the default 90) and decodes to the model's size", async () => {
    const raw = (await h.client.predictBatch(req())).response;
    const q40 = (await h.client.predictBatch(req({ output: { encoding: FrameEncoding.JPEG, jpegQuality: 40 } }))).response;
    const dflt = (await h.client.predictBatch(req({ output: { encoding: FrameEncoding.JPEG, jpegQuality: 0 } }))).response;
    let bytes40 = 0;
    let bytes90 = 0;
    for (let k = 0; k < 2; k++) {
      assert.equal(q40.rollouts[k]!.encoding, FrameEncoding.JPEG);
      assert.equal(q40.rollouts[k]!.jpegQuality, 40);
      assert.equal(dflt.rollouts[k]!.jpegQuality, 90);
      assert.equal(raw.rollouts[k]!.jpegQuality, 0, "quality is reported for JPEG only");
      for (let i = 0; i < 31; i++) {
        for (const [r, q] of [[q40, 40], [dflt, 90]] as const) {
          const f = r.rollouts[k]!.frames[i]!;
          const meta = await sharp(f).metadata();
          assert.equal(meta.format, "jpeg");
          assert.equal(meta.width, W);
          assert.equal(meta.height, H);
          const d = await rawOf(f);
          assert.ok(psnr(d.data, raw.rollouts[k]!.frames[i]!) > (q === 90 ? 25 : 18), `JPEG q${q} candidate ${k} frame ${i} is the same picture`);
        }
        bytes40 += q40.rollouts[k]!.frames[i]!.byteLength;
        bytes90 += dflt.rollouts[k]!.frames[i]!.byteLength;
      }
    }
    assert.ok(bytes40 < bytes90, `quality 40 (${bytes40} B) is smaller than quality 90 (${bytes90} B)`);
  });

  it("StreamPredict refuses MP4 with INVALID_ARGUMENT before reserving anything", async () => {
    const before = await h.app.billing.balance(h.customerId);
    const stream = h.client.streamPredict(req({ output: { encoding: FrameEncoding.MP4, jpegQuality: 0 } }));
    let error: unknown;
    let messages = 0;
    try {
      for await (const _ of stream.messages) messages++;
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof DreamError, `expected INVALID_ARGUMENT, got ${String(error)}`);
    assert.equal(error.reason, "INVALID_ARGUMENT");
    assert.match(error.message, /MP4/);
    assert.equal(error.details.field, "output.encoding");
    assert.equal(messages, 0);
    const after = await h.app.billing.balance(h.customerId);
    assert.equal(after.balanceMicros, before.balanceMicros);
    assert.equal(after.heldMicros, 0);
  });

  it("accepts PNG and JPEG start frames: a PNG start frame gives the same rollout as the raw one", async () => {
    const png = await sharp(frame, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
    const jpeg = await sharp(frame, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 95 }).toBuffer();
    const fromRaw = (await h.client.predictBatch(req())).response;
    // UNSPECIFIED: the server sniffs PNG/JPEG from the magic bytes.
    const fromPng = (await h.client.predictBatch(req({ startFrame: { encoding: FrameEncoding.FRAME_ENCODING_UNSPECIFIED, data: png, height: 0, width: 0 } }))).response;
    const fromJpeg = (await h.client.predictBatch(req({ startFrame: { encoding: FrameEncoding.JPEG, data: jpeg, height: H, width: W } }))).response;
    for (let k = 0; k < 2; k++) {
      for (let i = 0; i < 31; i++) assert.ok(Buffer.from(fromPng.rollouts[k]!.frames[i]!).equals(Buffer.from(fromRaw.rollouts[k]!.frames[i]!)), `candidate ${k} frame ${i}`);
    }
    const jpegPixels = (await rawOf(jpeg)).data;
    assert.ok(Buffer.from(fromJpeg.rollouts[0]!.frames[0]!).equals(jpegPixels), "frame 0 is the decoded JPEG start frame");
    assert.equal(fromJpeg.rollouts[0]!.frames.length, 31);
  });
});
