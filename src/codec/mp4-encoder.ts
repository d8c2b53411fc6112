// Streaming H.264 MP4 encoder: one ffmpeg child per rollout, fed raw RGB frames on stdin AS THEY ARE
// PRODUCED, so the server never holds a whole rollout of raw frames just to encode it (a K=8, T=48
// 480x640 batch is ~361 MB raw, ~2 MB as MP4). push() resolves once ffmpeg has taken the bytes, which
// is the backpressure: a slow encoder slows its producer instead of growing a buffer.
//
// Container: by default a normal MP4 with the moov box in front (-movflags +faststart). That needs
// a seekable output, so ffmpeg writes a temp file that we read back and delete. The alternative,
// fragmented MP4 on a pipe (frag_keyframe+empty_moov), costs the same to produce (see
// `npm run bench:codecs`) but older players, some browsers' <video> progress bars and several
// Python readers handle it worse; "plays everywhere" wins. It stays available as layout "fragmented".

import { randomUUID } from "crypto";
import { promises as fsp } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { assert } from "../core/assert";
import { ServiceError } from "../core/errors";
import { FfmpegProcess, describeExit, spawnFfmpeg } from "./ffmpeg";
import { videoPool } from "./pools";

export interface Mp4EncoderOptions {
  height: number;
  width: number;
  fps: number;
  /** x264 constant rate factor, 0..51 (lower = better). Default 23, x264's own default. */
  crf?: number;
  /** x264 preset. Default "veryfast": ~8 ms/frame at 480x640 on one core, small files. */
  preset?: string;
  /** x264 threads per encoder. Default 2: many encoders run at once (one per candidate), and
   *  x264's "auto" (1.5x cores) multiplies threads and frame buffers by the encoder count. */
  threads?: number;
  /** "faststart" (default, temp file) or "fragmented" (pipe, no temp file). */
  layout?: "faststart" | "fragmented";
  /** Where faststart temp files go (default os.tmpdir()); deleted on finish/abort either way. */
  tmpDir?: string;
  /** CPU niceness of the ffmpeg process (batch work: limits.backgroundEncodeNiceness). */
  niceness?: number;
}

export interface Mp4Encoder {
  readonly framesPushed: number;
  /** Queue one H*W*3 RGB8 frame. Resolves when ffmpeg has accepted it; do not mutate it before. */
  push(frame: Uint8Array): Promise<void>;
  /** Close the input and return the finished MP4. */
  finish(): Promise<Buffer>;
  /** Kill ffmpeg and clean up. Safe to call at any time, any number of times; never rejects. */
  abort(): Promise<void>;
}

// A finished stdin with a live ffmpeg should exit in well under a second; this only fences a hung
// child so finish() can never wait forever.
const FINISH_TIMEOUT_MS = 120_000;

/**
 * Open `count` encoders (one per candidate) taking their pool permits in one atomic acquire.
 * Open all of one request's encoders in ONE call, before its frames start to flow, and never while
 * holding other encoders: that is what keeps the bounded pool deadlock-free.
 */
export async function openMp4Encoders(count: number, options: Mp4EncoderOptions, signal?: AbortSignal): Promise<Mp4Encoder[]> {
  assert(Number.isInteger(count) && count > 0, "encoder count must be a positive integer");
  validateOptions(options);
  await videoPool.acquire(count, signal);
  const encoders: Mp4Encoder[] = [];
  try {
    for (let i = 0; i < count; i++) encoders.push(new FfmpegMp4Encoder(options));
  } catch (err) {
    // Permits of encoders that did start are released by their abort; return the rest now.
    videoPool.release(count - encoders.length);
    await Promise.all(encoders.map((e) => e.abort()));
    throw err;
  }
  return encoders;
}

export async function openMp4Encoder(options: Mp4EncoderOptions, signal?: AbortSignal): Promise<Mp4Encoder> {
  const [encoder] = await openMp4Encoders(1, options, signal);
  return encoder!;
}

function validateOptions(o: Mp4EncoderOptions): void {
  // yuv420p subsamples chroma 2x2, so x264 refuses odd sizes. Model resolutions are fixed by the
  // catalog, so an odd one is a configuration bug, not a user error.
  assert(o.height > 0 && o.width > 0 && o.height % 2 === 0 && o.width % 2 === 0, `MP4 needs even HxW, got ${o.height}x${o.width}`);
  assert(o.fps > 0 && o.fps <= 240, `fps out of range: ${o.fps}`);
  assert(o.crf === undefined || (o.crf >= 0 && o.crf <= 51), `crf out of range: ${o.crf}`);
  assert(o.niceness === undefined || (Number.isInteger(o.niceness) && o.niceness >= 0 && o.niceness <= 19), `niceness out of range: ${o.niceness}`);
}

type State = "open" | "finishing" | "done";

/** Owns one permit of videoPool from construction until its process has exited. */
class FfmpegMp4Encoder implements Mp4Encoder {
  framesPushed = 0;
  private state: State = "open";
  private readonly proc: FfmpegProcess;
  private readonly tmpPath: string | undefined;
  private readonly stdoutChunks: Buffer[] = [];
  private readonly frameBytes: number;
  private exitedEarly = false;
  private cleanup: Promise<void> | undefined;

  constructor(o: Mp4EncoderOptions) {
    this.frameBytes = o.height * o.width * 3;
    const layout = o.layout ?? "faststart";
    this.tmpPath = layout === "faststart" ? join(o.tmpDir ?? tmpdir(), `dream-codec-${randomUUID()}.mp4`) : undefined;
    const output =
      layout === "faststart"
        ? ["-movflags", "+faststart", "-f", "mp4", "-y", this.tmpPath!]
        : ["-movflags", "frag_keyframe+empty_moov", "-f", "mp4", "pipe:1"];
    this.proc = spawnFfmpeg([
      ...["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", `${o.width}x${o.height}`, "-framerate", String(o.fps), "-i", "pipe:0"],
      ...["-an", "-c:v", "libx264", "-preset", o.preset ?? "veryfast", "-crf", String(o.crf ?? 23)],
      ...["-threads", String(o.threads ?? 2), "-pix_fmt", "yuv420p"],
      // swscale converts RGB with the BT.601 matrix; say so, so players do not guess BT.709.
      ...["-colorspace", "smpte170m", "-color_range", "tv"],
      // No timestamps or version strings in the container: same frames → same bytes.
      ...["-fflags", "+bitexact", "-map_metadata", "-1"],
      ...output,
    ], o.niceness === undefined ? {} : { niceness: o.niceness });
    this.proc.child.stdout.on("data", (c: Buffer) => {
      if (!this.tmpPath) this.stdoutChunks.push(c);
    });
    void this.proc.exited.then(() => {
      if (this.state === "open") this.exitedEarly = true;
    });
  }

  async push(frame: Uint8Array): Promise<void> {
    if (this.state !== "open") throw new ServiceError("INTERNAL", "MP4 encoder: push after finish/abort");
    assert(frame.length === this.frameBytes, `MP4 encoder: frame is ${frame.length} bytes, expected ${this.frameBytes}`);
    if (this.exitedEarly) throw await this.failure("MP4 encode failed");
    this.framesPushed++;
    const stdin = this.proc.child.stdin;
    if (stdin.write(frame)) return;
    // Wait for ffmpeg to drain the pipe, or for it to die (then 'drain' never comes).
    const died = await Promise.race([
      new Promise<false>((resolve) => stdin.once("drain", () => resolve(false))),
      this.proc.exited.then(() => true),
    ]);
    if (died && this.state === "open") throw await this.failure("MP4 encode failed");
  }

  async finish(): Promise<Buffer> {
    if (this.state !== "open") throw new ServiceError("INTERNAL", "MP4 encoder: finish called twice or after abort");
    if (this.framesPushed === 0) {
      await this.abort();
      throw new ServiceError("ENGINE_FAILURE", "MP4 encode failed: no frames were produced");
    }
    this.state = "finishing";
    this.proc.child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), FINISH_TIMEOUT_MS);
    });
    const r = await Promise.race([this.proc.exited, timedOut]);
    clearTimeout(timer);
    try {
      if (r === "timeout") {
        throw new ServiceError("ENGINE_FAILURE", `MP4 encode failed: ffmpeg did not finish within ${FINISH_TIMEOUT_MS} ms`);
      }
      if (r.code !== 0) throw new ServiceError("ENGINE_FAILURE", describeExit("MP4 encode failed", r, this.proc.stderrTail()));
      const mp4 = this.tmpPath ? await fsp.readFile(this.tmpPath) : Buffer.concat(this.stdoutChunks);
      if (mp4.length === 0) throw new ServiceError("ENGINE_FAILURE", "MP4 encode failed: ffmpeg produced an empty file");
      return mp4;
    } catch (err) {
      if (err instanceof ServiceError) throw err;
      throw new ServiceError("ENGINE_FAILURE", `MP4 encode failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await this.release(); // kills the child if it is still alive (timeout case)
    }
  }

  abort(): Promise<void> {
    if (this.state === "open") this.state = "done";
    return this.release();
  }

  /** The error for a child that died while we were still feeding it. */
  private async failure(what: string): Promise<ServiceError> {
    const r = await this.proc.exited;
    await this.release();
    return new ServiceError("ENGINE_FAILURE", describeExit(what, r, this.proc.stderrTail()));
  }

  /** Idempotent: kill (if alive), wait for exit, delete the temp file, return the pool permit. */
  private release(): Promise<void> {
    this.state = "done";
    this.cleanup ??= (async () => {
      if (this.proc.child.running()) this.proc.child.kill();
      await this.proc.exited;
      if (this.tmpPath) await fsp.rm(this.tmpPath, { force: true }).catch(() => undefined);
      this.stdoutChunks.length = 0;
      videoPool.release(1);
    })();
    return this.cleanup;
  }
}
