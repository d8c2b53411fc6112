// src/codec → the service's CodecPort.
import { closeFrameEncoders, configureFrameEncoders, decodeInputFrame, encodeFrame, openMp4Encoders, type FrameOutputEncoding, type Mp4Encoder } from "../codec";
import { limits } from "../core/limits";
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

function mp4RolloutEncoder(encoder: Mp4Encoder): RolloutEncoder {
  return {
    push: (frame) => encoder.push(frame),
    async finish() {
      // A candidate cancelled before its first frame has no video; ffmpeg would fail on empty input.
      if (encoder.framesPushed === 0) {
        await encoder.abort();
        return { frames: [], video: new Uint8Array(0) };
      }
      return { frames: [], video: await encoder.finish() };
    },
    abort: () => void encoder.abort(),
  };
}

export const codecPort: CodecPort = {
  decodeStartFrame: (input, expected, field) => decodeInputFrame({ encoding: input.encoding, data: input.data, height: input.height, width: input.width }, expected, field),
  openRolloutEncoders: async (count, encoding, geometry) => {
    if (encoding !== "MP4") return Array.from({ length: count }, () => frameRolloutEncoder(encoding as FrameOutputEncoding, geometry));
    const encoders = await openMp4Encoders(count, { height: geometry.height, width: geometry.width, fps: geometry.fps, ...(geometry.background ? { niceness: limits.backgroundEncodeNiceness } : {}) });
    return encoders.map(mp4RolloutEncoder);
  },
  encodeFrame: async (encoding, frame, geometry) => (await encodeFrame(frame, geometry, { encoding: encoding as FrameOutputEncoding, jpegQuality: geometry.jpegQuality })).data,
};

/**
 * JPEG/PNG encoder threads for this host: the cores ORT's intra-op threads leave free (at least one),
 * so encodes do not take the model's cores. Returns what was set up, for the start-up log.
 */
export function startFrameEncoders(intraOpThreads: number | undefined): { threads: number; native: boolean } {
  return configureFrameEncoders({ intraOpThreads });
}

export const stopFrameEncoders = (): Promise<void> => closeFrameEncoders();
