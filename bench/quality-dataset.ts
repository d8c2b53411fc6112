// `npm run quality -- --dataset <dir>`: the model's rollouts against recorded ground truth, the way
// DreamDojo's evaluation compares predicted rollouts with the real clip frame by frame. The layout
// (docs/RESULTS.md "Ground-truth datasets"):
//
//   <dir>/<episode>/start.png          the conditioning frame (PNG or JPEG: start.jpg), at the model's resolution
//   <dir>/<episode>/actions.npy        float32 [T, action_dim]
//   <dir>/<episode>/frames/000001.png  the true frames 1..T (PNG), six-digit 1-based names
//   <dir>/<episode>/meta.json          optional: {"model": "<slug>", "seed": 0, "num_steps": 0}
//
// Per episode: PSNR from the MSE pooled over predicted frames 1..T (frame 0 is the given start frame,
// not a prediction), SSIM the mean over those frames; the dataset row is the mean over episodes.
import fs from "node:fs";
import path from "node:path";
import { decodeInputFrame, parseNpy } from "../src/codec";
import type { CatalogEntry } from "../src/config/catalog";
import { limits } from "../src/core/limits";
import { fidelity } from "../src/quality/compare";

/** A bench bound, not an engine limit: more episodes than this is a typo'd directory, not a dataset. */
export const DATASET_EPISODES_MAX = 10_000;

export interface Episode {
  name: string;
  model: string;
  seed: number;
  /** 0 = the model's default. */
  numSteps: number;
  startFrame: Uint8Array;
  /** float32 [T, action_dim]. */
  actions: Float32Array;
  t: number;
  /** True frames 1..T, RGB8. */
  truth: Uint8Array[];
}

/** Rolls one episode out; returns the predicted frames 1..T as RGB8. */
export type Predictor = (entry: CatalogEntry, episode: Episode) => Promise<Uint8Array[]>;

export interface DatasetEpisodeRow {
  kind: "dataset_episode";
  dataset: string;
  episode: string;
  model: string;
  t: number;
  seed: number;
  num_steps: number;
  psnr_db: number;
  psnr_min_db: number;
  ssim: number;
  ssim_min: number;
}

export interface DatasetSummaryRow {
  kind: "dataset";
  dataset: string;
  model: string;
  episodes: number;
  frames: number;
  /** Means over episodes of the per-episode figures. */
  psnr_db_mean: number;
  ssim_mean: number;
}

function fail(episode: string, why: string): never {
  throw new Error(`dataset episode ${episode}: ${why}`);
}

async function readFrame(file: string, entry: CatalogEntry, episode: string): Promise<Uint8Array> {
  const data = fs.readFileSync(file);
  const encoding = /\.jpe?g$/i.test(file) ? "JPEG" : "PNG";
  try {
    return await decodeInputFrame({ encoding, data }, { height: entry.resolution[0], width: entry.resolution[1] }, path.basename(file));
  } catch (err) {
    return fail(episode, `${path.basename(file)}: ${(err as Error).message}`);
  }
}

export function frameFileName(index: number): string {
  return `${String(index).padStart(6, "0")}.png`;
}

/** Reads one episode folder; `defaultModel` applies when it has no meta.json naming one. */
export async function readEpisode(dir: string, name: string, entries: readonly CatalogEntry[], defaultModel: string | undefined): Promise<{ episode: Episode; entry: CatalogEntry }> {
  const root = path.join(dir, name);
  const metaFile = path.join(root, "meta.json");
  const meta = fs.existsSync(metaFile) ? (JSON.parse(fs.readFileSync(metaFile, "utf8")) as { model?: string; seed?: number; num_steps?: number }) : {};
  const model = meta.model ?? defaultModel ?? fail(name, "no meta.json model and no --dataset-model given");
  const entry = entries.find((e) => e.slug === model) ?? fail(name, `model ${JSON.stringify(model)} is not in the catalog`);
  const startFile = ["start.png", "start.jpg", "start.jpeg"].map((f) => path.join(root, f)).find((f) => fs.existsSync(f)) ?? fail(name, "no start.png (or start.jpg)");
  const startFrame = await readFrame(startFile, entry, name);
  const actionsFile = path.join(root, "actions.npy");
  if (!fs.existsSync(actionsFile)) fail(name, "no actions.npy");
  const npy = parseNpy(fs.readFileSync(actionsFile), "actions.npy");
  if (npy.shape.length !== 2 || npy.shape[1] !== entry.actionDim) fail(name, `actions.npy has shape [${npy.shape}], expected [T, ${entry.actionDim}]`);
  const t = npy.shape[0]!;
  if (t < 1 || t > limits.actionStepsMax) fail(name, `actions.npy has T = ${t}, expected 1..${limits.actionStepsMax}`);
  const truth: Uint8Array[] = [];
  for (let i = 1; i <= t; i++) {
    const f = path.join(root, "frames", frameFileName(i));
    if (!fs.existsSync(f)) fail(name, `frames/${frameFileName(i)} is missing (T = ${t} from actions.npy)`);
    truth.push(await readFrame(f, entry, name));
  }
  return { episode: { name, model, seed: meta.seed ?? 0, numSteps: meta.num_steps ?? 0, startFrame, actions: npy.data, t, truth }, entry };
}

export async function evaluateDataset(
  dir: string,
  entries: readonly CatalogEntry[],
  predict: Predictor,
  opts: { defaultModel?: string; onEpisode?: (r: DatasetEpisodeRow) => void } = {},
): Promise<{ episodes: DatasetEpisodeRow[]; summaries: DatasetSummaryRow[] }> {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`--dataset ${dir}: not a directory`);
  const names = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
  if (names.length === 0) throw new Error(`--dataset ${dir}: no episode folders`);
  if (names.length > DATASET_EPISODES_MAX) throw new Error(`--dataset ${dir}: ${names.length} episode folders, at most ${DATASET_EPISODES_MAX}`);
  const rows: DatasetEpisodeRow[] = [];
  for (const name of names) {
    const { episode, entry } = await readEpisode(dir, name, entries, opts.defaultModel);
    const predicted = await predict(entry, episode);
    if (predicted.length !== episode.t) fail(name, `the model returned ${predicted.length} frames for T = ${episode.t}`);
    const stats = fidelity(episode.truth, predicted, { height: entry.resolution[0], width: entry.resolution[1] });
    const row: DatasetEpisodeRow = {
      kind: "dataset_episode",
      dataset: dir,
      episode: name,
      model: entry.slug,
      t: episode.t,
      seed: episode.seed,
      num_steps: episode.numSteps || entry.defaultNumSteps,
      psnr_db: stats.psnrDb,
      psnr_min_db: stats.psnrMinDb,
      ssim: stats.ssimMean,
      ssim_min: stats.ssimMin,
    };
    rows.push(row);
    opts.onEpisode?.(row);
  }
  const summaries = [...new Set(rows.map((r) => r.model))].map((model): DatasetSummaryRow => {
    const of = rows.filter((r) => r.model === model);
    return {
      kind: "dataset",
      dataset: dir,
      model,
      episodes: of.length,
      frames: of.reduce((s, r) => s + r.t, 0),
      psnr_db_mean: of.reduce((s, r) => s + r.psnr_db, 0) / of.length,
      ssim_mean: of.reduce((s, r) => s + r.ssim, 0) / of.length,
    };
  });
  return { episodes: rows, summaries };
}
