// JPEG encode per frame: our encode path against the bare libvips floor, side by side.
//
//   floor   bench/vips-jpeg-floor.c, compiled here (gcc, headers from `pkg-config --cflags vips`),
//           linked against sharp's own libvips; the same raw frame encoded N times, one after another,
//           with the options our path uses. If it cannot be built the bench says why and prints no ratio.
//   ours    encodeJpeg (src/codec/image-encode.ts) with one encoder thread, as the server calls it: one
//           chunk's frames asked for at once (Promise.all; K=8 lanes x chunkSize 12 = 96 frames), chunk
//           after chunk.
//   ours_8  the same with 8 frames at a time (K=8, one frame per lane: the least batching there is).
//   sharp   the previous path (one sharp call per frame on libuv threads, imagePool-bounded), 96 at a time.
// Per frame = side wall / N; cpu = process CPU time / N (every thread of the process: main, encoder
// thread, libuv, libvips). Reps interleave the three sides in a rotating order; ratios are per rep
// (ours / floor in the same rep), reported as median [min..max], with the load average.
//
//   node --import tsx bench/codecs-jpeg.ts [--reps 11]      (bench/codecs.ts runs it as part "jpeg")

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { closeFrameEncoders, configureFrameEncoders, encodeJpeg, encodeJpegWithSharp, frameEncoderStats, JPEG_QUALITY_DEFAULT } from "../src/codec/image-encode";
import { syntheticFrame } from "../src/codec/synthetic-frame";
import { sharpLibvipsPath } from "../src/codec/vips-native";
import { progress } from "./progress";

const CHUNK = 8 * 12; // K=8 lanes x the reference models' chunkSize (gpu/catalog.json)
const SMALL_BATCH = 8; // K=8, one frame per lane
const SIZES = [
  { height: 48, width: 64, frames: 4 * CHUNK },
  { height: 480, width: 640, frames: CHUNK },
] as const;

export interface JpegSide {
  us_per_frame: number;
  cpu_us_per_frame: number;
  /** ours: the encoder thread's time inside its encode loop, per frame. */
  thread_us_per_frame?: number;
}

export interface JpegSizeReport {
  height: number;
  width: number;
  frames_per_side: number;
  bytes_per_frame: number;
  /** Medians over reps. */
  floor?: JpegSide;
  ours: JpegSide;
  ours_8: JpegSide;
  sharp: JpegSide;
  /** ours / floor per rep: median, min, max (absent without a floor). */
  ratio_wall?: { median: number; min: number; max: number };
  ratio_cpu?: { median: number; min: number; max: number };
  ours_8_ratio_wall?: { median: number; min: number; max: number };
  ours_8_ratio_cpu?: { median: number; min: number; max: number };
  sharp_ratio_wall?: { median: number; min: number; max: number };
  sharp_ratio_cpu?: { median: number; min: number; max: number };
  reps: Array<Record<string, JpegSide>>;
}

export interface JpegReport {
  bench: "codecs-jpeg";
  quality: number;
  batch: number;
  reps: number;
  cpus: number;
  node: string;
  floor: { built: true; binary: string; vips: string; libvips: string } | { built: false; why: string };
  loadavg_before: number[];
  loadavg_after: number[];
  sizes: JpegSizeReport[];
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const spread = (xs: number[]) => ({ median: round(median(xs)), min: round(Math.min(...xs)), max: round(Math.max(...xs)) });

/** Compiles the floor program into a scratch dir, or says why it could not. */
export function buildFloor(): { ok: true; binary: string; libvips: string } | { ok: false; why: string } {
  const libvips = sharpLibvipsPath();
  if (libvips === undefined) return { ok: false, why: "sharp's libvips package (@img/sharp-libvips-*) not found" };
  let cflags: string[];
  try {
    cflags = execFileSync("pkg-config", ["--cflags", "vips"], { encoding: "utf8" }).trim().split(/\s+/).filter(Boolean);
  } catch {
    return { ok: false, why: "no libvips headers: `pkg-config --cflags vips` failed (Debian: apt-get install -y libvips-dev)" };
  }
  const source = path.join(__dirname, "vips-jpeg-floor.c");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-vips-floor-"));
  const binary = path.join(dir, "vips-jpeg-floor");
  try {
    execFileSync("gcc", ["-O2", "-o", binary, source, ...cflags, libvips, `-Wl,-rpath,${path.dirname(libvips)}`], { stdio: ["ignore", "ignore", "pipe"] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim().split("\n").slice(0, 3).join(" / ");
    return { ok: false, why: `gcc failed: ${stderr ?? String(err)}` };
  }
  return { ok: true, binary, libvips };
}

async function ourSide(encode: (f: Uint8Array) => Promise<Uint8Array>, frame: Uint8Array, frames: number, batch: number): Promise<JpegSide> {
  const busy0 = frameEncoderStats()?.encodeUs ?? 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  for (let done = 0; done < frames; done += batch) await Promise.all(Array.from({ length: batch }, () => encode(frame)));
  const wallUs = (performance.now() - t0) * 1000;
  const cpu = process.cpuUsage(c0);
  const busy = (frameEncoderStats()?.encodeUs ?? 0) - busy0;
  return { us_per_frame: wallUs / frames, cpu_us_per_frame: (cpu.user + cpu.system) / frames, ...(busy > 0 ? { thread_us_per_frame: busy / frames } : {}) };
}

export async function runJpegBench(options: { reps?: number } = {}): Promise<JpegReport> {
  const reps = options.reps ?? 11;
  const q = JPEG_QUALITY_DEFAULT;
  const loadBefore = os.loadavg().map((x) => round(x));
  const built = buildFloor();
  configureFrameEncoders({ threads: 1 });
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "dream-jpeg-frames-"));
  const bar = progress("codecs jpeg", SIZES.length * reps);
  const sizes: JpegSizeReport[] = [];
  let vips = "";
  try {
    for (const s of SIZES) {
      const size = { height: s.height, width: s.width };
      const frame = syntheticFrame(s.height, s.width, 3);
      const rawPath = path.join(scratch, `${s.height}x${s.width}.rgb`);
      fs.writeFileSync(rawPath, frame);
      const ours = (f: Uint8Array) => encodeJpeg(f, size, q);
      const viaSharp = (f: Uint8Array) => encodeJpegWithSharp(f, size, q);
      const oursBytes = (await ours(frame)).length; // warm-up: starts the encoder thread
      const sharpBytes = (await viaSharp(frame)).length;
      if (oursBytes !== sharpBytes) throw new Error(`ours ${oursBytes} B vs sharp ${sharpBytes} B: the two paths should make the same JPEG`);
      const sides: Record<string, () => Promise<JpegSide>> = {
        ours: () => ourSide(ours, frame, s.frames, CHUNK),
        ours_8: () => ourSide(ours, frame, s.frames, SMALL_BATCH),
        sharp: () => ourSide(viaSharp, frame, s.frames, CHUNK),
      };
      if (built.ok) {
        const binary = built.binary;
        sides.floor = async () => {
          const out = JSON.parse(execFileSync(binary, [rawPath, String(s.width), String(s.height), String(q), String(s.frames)], { encoding: "utf8" })) as JpegSide & { bytes: number; vips: string };
          if (out.bytes !== oursBytes) throw new Error(`floor ${out.bytes} B vs ours ${oursBytes} B: not the same encode`);
          vips = out.vips;
          return { us_per_frame: out.us_per_frame, cpu_us_per_frame: out.cpu_us_per_frame };
        };
      }
      const names = Object.keys(sides);
      const repRows: Array<Record<string, JpegSide>> = [];
      for (let r = 0; r < reps; r++) {
        const row: Record<string, JpegSide> = {};
        for (let i = 0; i < names.length; i++) {
          const name = names[(r + i) % names.length]!;
          row[name] = await sides[name]!();
        }
        repRows.push(row);
        bar.tick(1, `${s.height}x${s.width}`);
      }
      const med = (name: string): JpegSide => {
        const thread = repRows.map((x) => x[name]!.thread_us_per_frame).filter((x): x is number => x !== undefined);
        return { us_per_frame: round(median(repRows.map((x) => x[name]!.us_per_frame))), cpu_us_per_frame: round(median(repRows.map((x) => x[name]!.cpu_us_per_frame))), ...(thread.length ? { thread_us_per_frame: round(median(thread)) } : {}) };
      };
      const ratio = (name: string, key: "us_per_frame" | "cpu_us_per_frame") => spread(repRows.map((x) => x[name]![key] / x.floor![key]));
      sizes.push({
        height: s.height,
        width: s.width,
        frames_per_side: s.frames,
        bytes_per_frame: oursBytes,
        ...(built.ok ? { floor: med("floor") } : {}),
        ours: med("ours"),
        ours_8: med("ours_8"),
        sharp: med("sharp"),
        ...(built.ok
          ? { ratio_wall: ratio("ours", "us_per_frame"), ratio_cpu: ratio("ours", "cpu_us_per_frame"), ours_8_ratio_wall: ratio("ours_8", "us_per_frame"), ours_8_ratio_cpu: ratio("ours_8", "cpu_us_per_frame"), sharp_ratio_wall: ratio("sharp", "us_per_frame"), sharp_ratio_cpu: ratio("sharp", "cpu_us_per_frame") }
          : {}),
        reps: repRows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, { us_per_frame: round(v.us_per_frame), cpu_us_per_frame: round(v.cpu_us_per_frame), ...(v.thread_us_per_frame ? { thread_us_per_frame: round(v.thread_us_per_frame) } : {}) }]))),
      });
    }
  } finally {
    bar.stop();
    await closeFrameEncoders();
    fs.rmSync(scratch, { recursive: true, force: true });
    if (built.ok) fs.rmSync(path.dirname(built.binary), { recursive: true, force: true });
  }
  return {
    bench: "codecs-jpeg",
    quality: q,
    batch: CHUNK,
    reps,
    cpus: os.cpus().length,
    node: process.version,
    floor: built.ok ? { built: true, binary: "bench/vips-jpeg-floor.c", vips, libvips: built.libvips } : { built: false, why: built.why },
    loadavg_before: loadBefore,
    loadavg_after: os.loadavg().map((x) => round(x)),
    sizes,
  };
}

export function summarizeJpeg(r: JpegReport): string[] {
  const lines = r.sizes.map((s) => {
    const side = (name: string, x: JpegSide | undefined) => (x ? `${name} ${x.us_per_frame} us (cpu ${x.cpu_us_per_frame} us${x.thread_us_per_frame ? `, in thread ${x.thread_us_per_frame} us` : ""})` : "");
    const ratios = s.ratio_wall
      ? `; ours/floor wall ${s.ratio_wall.median}x [${s.ratio_wall.min}..${s.ratio_wall.max}], cpu ${s.ratio_cpu!.median}x [${s.ratio_cpu!.min}..${s.ratio_cpu!.max}]; ours_8/floor wall ${s.ours_8_ratio_wall!.median}x, cpu ${s.ours_8_ratio_cpu!.median}x; sharp/floor wall ${s.sharp_ratio_wall!.median}x, cpu ${s.sharp_ratio_cpu!.median}x`
      : "";
    return `jpeg q${r.quality} ${s.height}x${s.width} per frame (median of ${r.reps} interleaved reps, ${r.batch} frames at a time, ours_8 8): ${[side("floor", s.floor), side("ours", s.ours), side("ours_8", s.ours_8), side("sharp", s.sharp)].filter(Boolean).join(" | ")}${ratios}`;
  });
  lines.push(r.floor.built ? `floor: ${r.floor.binary} on libvips ${r.floor.vips} (${r.floor.libvips}); load average ${r.loadavg_before.join(" ")} → ${r.loadavg_after.join(" ")}` : `no floor, so no ratio: ${r.floor.why}`);
  return lines;
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  runJpegBench({ reps: Number(argValue("--reps") ?? 11) })
    .then((r) => {
      console.log(JSON.stringify(r, null, 2));
      for (const line of summarizeJpeg(r)) console.log(line);
    })
    .catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
}
