// Writes a row's outputs into the job's sink so that a reader (or a resumed job) sees a row's files
// either complete or not at all: a single file goes through a temp file + rename, a folder is built
// under a temp name and renamed into place. Rows are written before their charge is posted, so a
// posted row always has its output.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export type SinkEncoding = "MP4" | "PNG" | "JPEG" | "RAW_RGB8";

/** What one candidate produced: encoded frames, or one video. */
export interface CandidateOutput {
  frames: Uint8Array[];
  video: Uint8Array | undefined;
}

export interface SinkFile {
  /** Relative to the row's own location: "<name>.mp4", or a path inside the "<name>/" folder. */
  path: string;
  data: Uint8Array;
}

const FRAME_EXT: Record<string, string> = { PNG: "png", JPEG: "jpg" };

/**
 * The layout of a row's files: `<name>.mp4` (K = 1) or `<name>/c<k>.mp4`; `<name>/c<k>/<frame>.png|.jpg`;
 * RAW_RGB8 as `<name>/c<k>.npy`, uint8 [frames, H, W, 3] (built by the caller: `npy`).
 */
export function rowFiles(name: string, encoding: SinkEncoding, outputs: CandidateOutput[], npy?: (frames: Uint8Array[]) => Uint8Array): { folder: boolean; files: SinkFile[] } {
  if (encoding === "MP4") {
    if (outputs.length === 1) return { folder: false, files: [{ path: `${name}.mp4`, data: outputs[0]!.video ?? new Uint8Array(0) }] };
    return { folder: true, files: outputs.map((o, k) => ({ path: `c${k}.mp4`, data: o.video ?? new Uint8Array(0) })) };
  }
  if (encoding === "RAW_RGB8") {
    if (!npy) throw new Error("RAW_RGB8 rows need an .npy writer");
    return { folder: true, files: outputs.map((o, k) => ({ path: `c${k}.npy`, data: npy(o.frames) })) };
  }
  const ext = FRAME_EXT[encoding]!;
  return { folder: true, files: outputs.flatMap((o, k) => o.frames.map((f, i) => ({ path: path.join(`c${k}`, `${String(i).padStart(4, "0")}.${ext}`), data: f }))) };
}

/** Puts a row's files under `sinkDir` atomically (replacing an earlier attempt's). */
export async function writeRowFiles(sinkDir: string, name: string, layout: { folder: boolean; files: SinkFile[] }): Promise<void> {
  await fs.promises.mkdir(sinkDir, { recursive: true });
  const tag = `.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  if (!layout.folder) {
    const file = layout.files[0]!;
    await writeFileAtomic(path.join(sinkDir, file.path), file.data, tag);
    return;
  }
  const staging = path.join(sinkDir, `.${name}${tag}`);
  for (const f of layout.files) {
    const target = path.join(staging, f.path);
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    await fs.promises.writeFile(target, f.data);
  }
  const final = path.join(sinkDir, name);
  // A folder cannot be renamed over a non-empty one: the earlier attempt's is moved aside first.
  const old = path.join(sinkDir, `.${name}${tag}.old`);
  const hadOld = await fs.promises.rename(final, old).then(() => true, () => false);
  await fs.promises.rename(staging, final);
  if (hadOld) await fs.promises.rm(old, { recursive: true, force: true });
}

/** Temp files are dot-named beside their target (same filesystem, so the rename is atomic; hidden from listings). */
export async function writeFileAtomic(target: string, data: Uint8Array | string, tag = `.tmp-${process.pid}-${randomBytes(4).toString("hex")}`): Promise<void> {
  const temp = path.join(path.dirname(target), `.${path.basename(target)}${tag}`);
  await fs.promises.writeFile(temp, data);
  await fs.promises.rename(temp, target);
}
