// src/codec → the service's CodecPort.
import { decodeInputFrame, encodeFrame, openMp4Encoder, type FrameOutputEncoding, type Mp4Encoder } from "../codec";
import { assert } from "../core/assert";
import type { CodecPort, RolloutEncoder } from "../service/ports";

/** Per-frame encodings collect encoded frames as they arrive; MP4 streams frames into ffmpeg. */
function frameRolloutEncoder(encoding: FrameOutputEncoding, geometry: { height: number; width: number; jpegQuality: number }): RolloutEncoder {
  const frames: Promise<Uint8Array>[] = [];
  return {
    push(frame) {
      const encoded = encodeFrame(frame, geometry, { encoding, jpegQuality: geometry.jpegQuality }).then((e) => e.data);
      encoded.catch(() => undefined); // surfaced by finish()
      frames.push(encoded);
    },
    async finish() {
      return { frames: await Promise.all(frames), video: undefined };
    },
    abort() {},
  };
}

function mp4RolloutEncoder(geometry: { height: number; width: number; fps: number }): RolloutEncoder {
  // Opening takes an encoder slot from a bounded pool, so it is deferred to the first frame.
  let opened: Promise<Mp4Encoder> | undefined;
  let aborted = false;
  const open = () => (opened ??= openMp4Encoder({ height: geometry.height, width: geometry.width, fps: geometry.fps }));
  return {
    async push(frame) {
      await (await open()).push(frame);
    },
    async finish() {
      assert(!aborted, "finish after abort");
      if (!opened) return { frames: [], video: new Uint8Array(0) };
      return { frames: [], video: await (await opened).finish() };
    },
    abort() {
      aborted = true;
      opened?.then((e) => e.abort(), () => undefined);
    },
  };
}

export const codecPort: CodecPort = {
  decodeStartFrame: (input, expected) => decodeInputFrame({ encoding: input.encoding, data: input.data, height: input.height, width: input.width }, expected),
  rolloutEncoder: (encoding, geometry) =>
    encoding === "MP4" ? mp4RolloutEncoder(geometry) : frameRolloutEncoder(encoding as FrameOutputEncoding, geometry),
  encodeFrame: async (encoding, frame, geometry) => (await encodeFrame(frame, geometry, { encoding: encoding as FrameOutputEncoding, jpegQuality: geometry.jpegQuality })).data,
};
