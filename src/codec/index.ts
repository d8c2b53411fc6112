// Public surface of src/codec: the only folder that imports sharp or runs the ffmpeg binary.
// Everything here runs off the event loop (JPEG/PNG encodes on encoder threads, other sharp work on
// libuv threads, ffmpeg as a child process) and is bounded by the pools in pools.ts / encoder-pool.ts.

export { decodeInputFrame } from "./input-frame";
export type { InputEncoding, InputFrame } from "./input-frame";
export { encodeFrame, encodeJpeg, encodePng, resolveJpegQuality, configureFrameEncoders, closeFrameEncoders, frameEncoderStats, JPEG_QUALITY_DEFAULT, PNG_COMPRESSION_LEVEL } from "./image-encode";
export type { EncodedFrame, FrameOutputEncoding } from "./image-encode";
export { openMp4Encoder, openMp4Encoders } from "./mp4-encoder";
export type { Mp4Encoder, Mp4EncoderOptions } from "./mp4-encoder";
export { decodeMp4 } from "./mp4-decode";
export type { DecodedMp4, DecodeMp4Options } from "./mp4-decode";
export { probeMp4, Mp4ParseError } from "./mp4-probe";
export type { Mp4Info } from "./mp4-probe";
export { parseNpy, encodeNpy, NPY_HEADER_BYTES_MAX } from "./npy";
export type { NpyArray, NpyWriteDtype } from "./npy";
export { sniffImageFormat, readImageSize } from "./image-header";
export type { ImageFormat, ImageSize } from "./image-header";
export { codecPoolStats } from "./pools";
export { Semaphore } from "./semaphore";
export { syntheticFrame } from "./synthetic-frame";
