// The ground-truth comparison of `npm run quality -- --dataset <dir>` (bench/quality-dataset.ts) on a
// synthetic dataset written in the documented layout: an episode whose true frames are the tiny
// reference model's own rollout must score PSNR ∞ / SSIM 1, and one whose true frames are that rollout
// with every byte off by exactly e must score 10·log10(255²/e²). The predictor is the model run
// directly (gpu/direct.ts); the bench passes the served one.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { evaluateDataset, frameFileName, type Predictor } from "../../bench/quality-dataset";
import { encodeNpy, encodePng, syntheticFrame } from "../../src/codec";
import { loadCatalog } from "../../src/config/load-catalog";
import { DirectModel } from "../../gpu/direct";
import { DEFAULT_MODEL_DIR, ensureReferenceModels } from "../../gpu/build-reference-models";

const ROOT = path.join(__dirname, "..", "..");
const catalog = loadCatalog(path.join(ROOT, "gpu", "catalog.json"));
const entry = catalog.models.find((e) => e.slug === "dream-reference-tiny")!;
const [H, W] = entry.resolution;
const size = { height: H, width: W };
const T = 13; // two chunks, the second partial

describe("quality bench --dataset", () => {
  let dir: string;
  let model: DirectModel;
  const predict: Predictor = async (e, ep) => {
    const { frames } = await model.run({ k: 1, t: ep.t, numSteps: ep.numSteps || e.defaultNumSteps, seed: BigInt(ep.seed), frame: ep.startFrame, actions: ep.actions });
    return Array.from({ length: ep.t }, (_, i) => frames.subarray((i + 1) * H * W * 3, (i + 2) * H * W * 3));
  };

  async function writeEpisode(name: string, seed: number, truthOf: (predicted: Uint8Array) => Uint8Array, meta = true): Promise<void> {
    const root = path.join(dir, name);
    fs.mkdirSync(path.join(root, "frames"), { recursive: true });
    const start = syntheticFrame(H, W, seed);
    const actions = Float32Array.from({ length: T * entry.actionDim }, (_, i) => Math.sin(0.01 * i + seed));
    fs.writeFileSync(path.join(root, "start.png"), await encodePng(start, size));
    fs.writeFileSync(path.join(root, "actions.npy"), encodeNpy(actions, [T, entry.actionDim]));
    if (meta) fs.writeFileSync(path.join(root, "meta.json"), JSON.stringify({ model: entry.slug, seed }));
    const predicted = await predict(entry, { name, model: entry.slug, seed: meta ? seed : 0, numSteps: 0, startFrame: start, actions, t: T, truth: [] });
    for (let i = 0; i < T; i++) fs.writeFileSync(path.join(root, "frames", frameFileName(i + 1)), await encodePng(truthOf(predicted[i]!), size));
  }

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-quality-dataset-"));
    await ensureReferenceModels(DEFAULT_MODEL_DIR, { models: [entry] });
    model = await DirectModel.open(DEFAULT_MODEL_DIR, entry);
  });
  after(async () => {
    await model?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("scores its own rollout ∞ and a copy off by e on every byte exactly 10·log10(255²/e²)", async () => {
    const e = 4;
    await writeEpisode("ep-exact", 3, (p) => p);
    await writeEpisode("ep-off-by-4", 5, (p) => p.map((v) => (v < 128 ? v + e : v - e)));
    const seen: string[] = [];
    const { episodes, summaries } = await evaluateDataset(dir, catalog.models, predict, { onEpisode: (r) => seen.push(r.episode) });
    assert.deepEqual(seen, ["ep-exact", "ep-off-by-4"]);
    assert.equal(episodes[0]!.psnr_db, Infinity);
    assert.equal(episodes[0]!.ssim, 1);
    assert.equal(episodes[0]!.t, T);
    const expected = 10 * Math.log10((255 * 255) / (e * e));
    assert.ok(Math.abs(episodes[1]!.psnr_db - expected) < 1e-9, `${episodes[1]!.psnr_db} vs ${expected}`);
    assert.ok(Math.abs(episodes[1]!.psnr_min_db - expected) < 1e-9);
    assert.ok(episodes[1]!.ssim < 1);
    assert.equal(summaries.length, 1);
    assert.equal(summaries[0]!.episodes, 2);
    assert.equal(summaries[0]!.frames, 2 * T);
  });

  it("names the episode and what is wrong with it", async () => {
    await writeEpisode("ep-no-meta", 6, (p) => p, false);
    await assert.rejects(evaluateDataset(dir, catalog.models, predict), /dataset episode ep-no-meta: no meta.json model and no --dataset-model given/);
    fs.rmSync(path.join(dir, "ep-no-meta", "frames", frameFileName(T)));
    await assert.rejects(evaluateDataset(dir, catalog.models, predict, { defaultModel: entry.slug }), /ep-no-meta: frames\/000013\.png is missing \(T = 13 from actions\.npy\)/);
    await assert.rejects(evaluateDataset(path.join(dir, "nope"), catalog.models, predict), /not a directory/);
  });
});
