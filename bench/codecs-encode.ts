// Per-frame encode cost and size of every output encoding at the model resolution, on a textured
// synthetic frame (flat colours would flatter every codec). MP4 is measured as a whole 49-frame
// rollout streamed into one encoder and amortised per frame, which is how the server uses it.
//
//   node --import tsx bench/codecs-encode.ts [--frames 49] [--reps 3] [--png-sweep]
//
// Prints one JSON document, then a one-line summary. bench/codecs.ts calls runCodecEncodeBench().

import { cpus } from "os";
import { encodeJpeg, encodePng, PNG_COMPRESSION_LEVEL, JPEG_QUALITY_DEFAULT } from "../src/codec/image-encode";
import { openMp4Encoder } from "../src/codec/mp4-encoder";
import { syntheticFrame } from "../src/codec/synthetic-frame";

export interface EncodingFigures {
  /** Median wall time per frame, one frame at a time (latency). */
  msPerFrame: number;
  /** Frames per second with every frame asked for at once (throughput: batched onto the encoder threads, or imagePool-bounded sharp calls); images only. */
  framesPerSecondParallel?: number;
  bytesPerFrame: number;
  [extra: string]: unknown;
}

export interface CodecEncodeReport {
  bench: "codecs-encode";
  height: number;
  width: number;
  frames: number;
  reps: number;
  cpus: number;
  node: string;
  encodings: Record<string, EncodingFigures>;
  pngSweep?: Array<{ level: number; adaptiveFiltering: boolean; msPerFrame: number; bytesPerFrame: number }>;
}

export interface CodecEncodeOptions {
  height?: number;
  width?: number;
  frames?: number;
  reps?: number;
  pngSweep?: boolean;
}

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

async function perFrame(frames: Uint8Array[], encode: (f: Uint8Array) => Promise<Uint8Array>): Promise<{ ms: number; bytes: number }> {
  await encode(frames[0]!); // warm-up: first sharp call loads libvips operations
  const times: number[] = [];
  let bytes = 0;
  for (const f of frames) {
    const t0 = nowMs();
    const out = await encode(f);
    times.push(nowMs() - t0);
    bytes += out.length;
  }
  return { ms: median(times), bytes: bytes / frames.length };
}

async function parallelFps(frames: Uint8Array[], encode: (f: Uint8Array) => Promise<Uint8Array>): Promise<number> {
  const t0 = nowMs();
  await Promise.all(frames.map((f) => encode(f))); // the image pool caps the in-flight count
  return frames.length / ((nowMs() - t0) / 1000);
}

async function mp4Rollout(frames: Uint8Array[], height: number, width: number, layout: "faststart" | "fragmented"): Promise<{ ms: number; bytes: number }> {
  const t0 = nowMs();
  const enc = await openMp4Encoder({ height, width, fps: 10, layout });
  for (const f of frames) await enc.push(f);
  const mp4 = await enc.finish();
  return { ms: nowMs() - t0, bytes: mp4.length };
}

export async function runCodecEncodeBench(options: CodecEncodeOptions = {}): Promise<CodecEncodeReport> {
  const height = options.height ?? 480;
  const width = options.width ?? 640;
  const n = options.frames ?? 49;
  const reps = options.reps ?? 3;
  const size = { height, width };
  const frames = Array.from({ length: n }, (_, t) => syntheticFrame(height, width, t));

  const encodings: Record<string, EncodingFigures> = {};
  encodings.raw = { msPerFrame: 0, bytesPerFrame: height * width * 3, note: "zero-copy passthrough" };

  const png = (f: Uint8Array) => encodePng(f, size);
  const p = await perFrame(frames, png);
  encodings.png = {
    msPerFrame: round(p.ms),
    framesPerSecondParallel: round(await parallelFps(frames, png), 1),
    bytesPerFrame: Math.round(p.bytes),
    compressionLevel: PNG_COMPRESSION_LEVEL,
  };

  const jpeg = (f: Uint8Array) => encodeJpeg(f, size, JPEG_QUALITY_DEFAULT);
  const j = await perFrame(frames, jpeg);
  encodings.jpeg = {
    msPerFrame: round(j.ms),
    framesPerSecondParallel: round(await parallelFps(frames, jpeg), 1),
    bytesPerFrame: Math.round(j.bytes),
    quality: JPEG_QUALITY_DEFAULT,
  };

  for (const layout of ["faststart", "fragmented"] as const) {
    const runs: Array<{ ms: number; bytes: number }> = [];
    await mp4Rollout(frames.slice(0, 2), height, width, layout); // warm-up: page in the ffmpeg binary
    for (let r = 0; r < reps; r++) runs.push(await mp4Rollout(frames, height, width, layout));
    const ms = median(runs.map((r) => r.ms));
    encodings[layout === "faststart" ? "mp4" : "mp4_fragmented"] = {
      msPerFrame: round(ms / n),
      bytesPerFrame: Math.round(runs[0]!.bytes / n),
      rolloutMs: round(ms, 1),
      rolloutBytes: runs[0]!.bytes,
      layout,
      note: `H.264 veryfast crf 23, ${n} frames streamed into one encoder, spawn..finish amortised per frame`,
    };
  }

  const report: CodecEncodeReport = {
    bench: "codecs-encode",
    height,
    width,
    frames: n,
    reps,
    cpus: cpus().length,
    node: process.version,
    encodings,
  };

  if (options.pngSweep) {
    report.pngSweep = [];
    const sample = frames.slice(0, Math.min(n, 12));
    for (const level of [0, 1, 2, 3, 4, 6, 9]) {
      // encodePng applies adaptive filtering at level > 0; level 0 (stored) gains nothing from it.
      const r = await perFrame(sample, (f) => encodePng(f, size, level));
      report.pngSweep.push({ level, adaptiveFiltering: level > 0, msPerFrame: round(r.ms), bytesPerFrame: Math.round(r.bytes) });
    }
  }
  return report;
}

export function summarizeCodecEncode(r: CodecEncodeReport): string {
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  const e = r.encodings;
  const part = (name: string, f: EncodingFigures | undefined) => (f ? `${name} ${f.msPerFrame} ms ${kib(f.bytesPerFrame)}` : "");
  return (
    `codecs @${r.height}x${r.width}, per frame: ` +
    [
      part("raw", e.raw),
      part(`png(l${e.png?.compressionLevel})`, e.png),
      part(`jpeg(q${e.jpeg?.quality})`, e.jpeg),
      part(`mp4(${r.frames}f)`, e.mp4),
      part("mp4-frag", e.mp4_fragmented),
    ]
      .filter(Boolean)
      .join(" | ")
  );
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  runCodecEncodeBench({
    frames: Number(argValue("--frames") ?? 49),
    reps: Number(argValue("--reps") ?? 3),
    pngSweep: process.argv.includes("--png-sweep"),
  })
    .then((r) => {
      console.log(JSON.stringify(r, null, 2));
      console.log(summarizeCodecEncode(r));
    })
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
