// MP4 → raw RGB frames, for tests and SDK-side checks (the server itself never decodes video).
// Frame count, size and fps come from the container (mp4-probe); ffmpeg decodes the pixels, and we
// check the two agree.

import { randomUUID } from "crypto";
import { promises as fsp } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ServiceError, invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import { describeExit, spawnFfmpeg } from "./ffmpeg";
import { Mp4ParseError, probeMp4 } from "./mp4-probe";
import { videoPool } from "./pools";

export interface DecodedMp4 {
  frames: Uint8Array[]; // each H*W*3 RGB8, views into one buffer
  width: number;
  height: number;
  fps: number;
  frameCount: number;
}

export interface DecodeMp4Options {
  /** Refuse videos with more frames than this (memory bound). Default: a longest-rollout's worth. */
  framesMax?: number;
  field?: string;
}

export async function decodeMp4(mp4: Buffer, options: DecodeMp4Options = {}): Promise<DecodedMp4> {
  const field = options.field ?? "video";
  const framesMax = options.framesMax ?? limits.actionStepsMax + 1;
  let info;
  try {
    info = probeMp4(mp4);
  } catch (err) {
    if (err instanceof Mp4ParseError) throw invalidArgument(field, `not a readable MP4 (${err.message})`);
    throw err;
  }
  const { width, height, frameCount } = info;
  if (width <= 0 || height <= 0 || width > limits.frameWidthMax || height > limits.frameHeightMax) {
    throw invalidArgument(field, `video size ${height}x${width} (HxW) is outside the supported range`);
  }
  if (frameCount <= 0 || frameCount > framesMax) {
    throw invalidArgument(field, `video has ${frameCount} frames; expected 1..${framesMax}`);
  }
  const frameBytes = width * height * 3;
  const raw = await videoPool.run(() => runDecoder(mp4, frameBytes * frameCount));
  if (raw.length !== frameBytes * frameCount) {
    throw new ServiceError(
      "ENGINE_FAILURE",
      `MP4 decode: container says ${frameCount} frames of ${height}x${width} but ffmpeg produced ${raw.length / frameBytes} frames`,
    );
  }
  const frames: Uint8Array[] = [];
  for (let i = 0; i < frameCount; i++) frames.push(raw.subarray(i * frameBytes, (i + 1) * frameBytes));
  return { frames, width, height, fps: info.fps, frameCount };
}

async function runDecoder(mp4: Buffer, expectedBytes: number): Promise<Buffer> {
  // ffmpeg needs to seek to read an MP4 whose moov is at the end, so give it a file, not a pipe.
  const tmp = join(tmpdir(), `dream-codec-dec-${randomUUID()}.mp4`);
  await fsp.writeFile(tmp, mp4);
  try {
    // -vsync passthrough: emit exactly the coded frames (no duplication/dropping to a frame rate).
    const proc = spawnFfmpeg(["-i", tmp, "-map", "0:v:0", "-vsync", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]);
    const chunks: Buffer[] = [];
    let got = 0;
    let overflow = false;
    proc.child.stdout.on("data", (c: Buffer) => {
      got += c.length;
      if (got > expectedBytes) {
        overflow = true; // more pixels than the container declared: stop instead of buffering on
        proc.child.kill();
        return;
      }
      chunks.push(c);
    });
    const r = await proc.exited;
    if (overflow) return Buffer.alloc(got); // length mismatch is reported by the caller
    if (r.code !== 0) throw new ServiceError("ENGINE_FAILURE", describeExit("MP4 decode failed", r, proc.stderrTail()));
    return Buffer.concat(chunks, got);
  } finally {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
  }
}
