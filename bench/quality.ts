// `npm run quality`: the quality gate. Starts the real server (embedded defaults, its own process) and
// checks what it serves against the same model run directly in this process, one candidate at a
// time (gpu/direct.ts via bench/quality-reference.ts), for every output encoding and for the batch
// compositions that could change results: K = 1, a full batch, a request joining another mid-run,
// candidates pruned from a running request, and planner rollouts. Lossless outputs must be
// byte-identical (any difference fails the run, named); lossy ones report PSNR/SSIM (src/quality),
// LPIPS with `--lpips <model.onnx>`, and targets: JPEG q90 ≥ 40 dB, MP4 ≥ 35 dB PSNR against raw.
// `--dataset <dir>` adds rollouts against recorded ground truth (bench/quality-dataset.ts).
//
//   npm run quality [-- --quick] [--models a,b] [--lpips model.onnx] [--dataset dir [--dataset-model slug]] [--no-write]
//
// Prints one JSON row per check on stdout and a one-line summary; BENCH_OUT=<file> gets the whole
// record. Unless --no-write, gpu/quality.json and docs/RESULTS.md's generated section are rewritten.
// Exit 1 when any check fails.
import fs from "node:fs";
import path from "node:path";
import { DreamClient, packActions } from "../clients/typescript/src";
import { syntheticFrame } from "../src/codec";
import type { CatalogEntry } from "../src/config/catalog";
import { loadCatalog } from "../src/config/load-catalog";
import { FrameEncoding } from "../src/gen/dream/v1/dream";
import { ensureReferenceModels } from "../gpu/build-reference-models";
import { DirectModel } from "../gpu/direct";
import { LpipsModel } from "../gpu/lpips";
import { ROOT, argString, startServer } from "./lib";
import { progress } from "./progress";
import { batchRows, cemRows, joinRows, planRows, pruneRows, type CompositionEnv } from "./quality-compositions";
import { evaluateDataset, type DatasetEpisodeRow, type DatasetSummaryRow } from "./quality-dataset";
import { DirectReference } from "./quality-reference";
import { LISTING_SOURCE, listingFigures, machine, toJson, writeResults, type QualityDoc } from "./quality-report";
import { OUTPUTS, rowFailure, type OutputName, type QualityRow } from "./quality-rows";

const ALL_MODELS = ["dream-reference-tiny", "dream-reference-480p"];
const ALL_OUTPUTS: OutputName[] = ["RAW_RGB8", "PNG", "JPEG q75", "JPEG q90", "JPEG q95", "MP4"];

/** How much of each model the run covers; the 480p part is bounded so a run stays minutes, not hours. */
interface Plan {
  t: number;
  ks: number[];
  outputs: OutputName[];
  join: { k: number; tLong: number; tShort: number; numSteps: number };
  prune: { k: number; t: number; numSteps: number; cancel: number[] };
  plan: { k: number; t: number };
}

// The tiny model's chunks take milliseconds, so its join and prune requests run 32 diffusion steps
// per chunk and several chunks: long enough that the second request / the cancel lands mid-run.
function planFor(slug: string, quick: boolean): Plan {
  if (slug === "dream-reference-tiny") {
    return {
      t: quick ? 24 : 48,
      ks: [1, 8],
      outputs: ALL_OUTPUTS,
      join: { k: 4, tLong: 96, tShort: 24, numSteps: 32 },
      prune: { k: 4, t: 96, numSteps: 32, cancel: [1, 3] },
      plan: { k: 4, t: quick ? 12 : 24 },
    };
  }
  // 480p: A of the join and the pruned request run 4 chunks. With fewer, the scheduler can already be
  // computing the last chunk when the client reacts to chunk 0 (a lone request's chunks run back to
  // back), and the composition does not happen: a 2-chunk prune was answered "cancelled" yet every
  // frame still came (measured here under load 12-15).
  return quick
    ? { t: 12, ks: [1, 2], outputs: ["RAW_RGB8", "PNG", "JPEG q90", "MP4"], join: { k: 2, tLong: 48, tShort: 12, numSteps: 4 }, prune: { k: 2, t: 48, numSteps: 4, cancel: [1] }, plan: { k: 2, t: 12 } }
    : { t: 24, ks: [1, 4], outputs: ALL_OUTPUTS, join: { k: 2, tLong: 48, tShort: 12, numSteps: 4 }, prune: { k: 4, t: 48, numSteps: 4, cancel: [1, 3] }, plan: { k: 2, t: 12 } };
}

function steps(p: Plan): number {
  return p.ks.length * p.outputs.length + 4;
}

async function main(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const write = !process.argv.includes("--no-write");
  const models = argString("models", ALL_MODELS.join(",")).split(",");
  for (const m of models) if (!ALL_MODELS.includes(m)) throw new Error(`--models: ${m} is not one of ${ALL_MODELS.join(", ")}`);
  const lpipsFile = argString("lpips", "");
  const datasetDir = argString("dataset", "");
  const datasetModel = argString("dataset-model", "") || undefined;
  const seed = 7;

  const catalog = loadCatalog(path.join(ROOT, "gpu", "catalog.json"));
  const modelDir = path.join(ROOT, "gpu", "models");
  await ensureReferenceModels(modelDir, { models: catalog.models.filter((e) => models.includes(e.slug)) });
  const startedAt = new Date().toISOString();
  const mach = machine();
  if (!lpipsFile) process.stderr.write("LPIPS: not measured (no LPIPS ONNX model given; none can be downloaded here)\n");

  const server = await startServer({ DREAM_MODELS: models.join(",") });
  const client = new DreamClient({ address: server.grpcAddress, apiKey: server.apiKey });
  const doc: QualityDoc = {
    about: "npm run quality: served output vs the same model run directly, unbatched (bench/quality.ts). PSNR pools the squared error over every compared frame; SSIM is Wang et al. on rgb2gray luma (src/quality/ssim.ts), averaged over frames. \"Infinity\" = identical.",
    command: ["npm run quality", ...(process.argv.slice(2).length ? ["--", ...process.argv.slice(2)] : [])].join(" "),
    date: startedAt,
    machine: mach,
    quick,
    lpips_model: lpipsFile || null,
    listing_source: `composition ${LISTING_SOURCE.composition}, output ${LISTING_SOURCE.output} (the HTTP surface's default), against the direct raw frames`,
    models: {},
    dataset: null,
    failures: [],
  };
  const emit = (row: unknown): void => void process.stdout.write(`${toJson(row)}\n`);
  try {
    for (const slug of models) {
      const entry = catalog.models.find((e) => e.slug === slug)!;
      const [h, w] = entry.resolution;
      const plan = planFor(slug, quick);
      const direct = await DirectModel.open(modelDir, entry, { warmLanes: 1 });
      const lpips = lpipsFile ? await LpipsModel.open(lpipsFile, { height: h, width: w }) : undefined;
      const env: CompositionEnv = { client, entry, reference: new DirectReference(direct, syntheticFrame(h, w, 0)), lpips };
      const rows: QualityRow[] = [];
      const bar = progress(`quality ${slug.replace("dream-reference-", "")}`, steps(plan));
      const onRow = (r: QualityRow): void => {
        rows.push(r);
        emit(r);
        const failure = rowFailure(r);
        if (failure) doc.failures.push(failure);
        bar.tick(1, `${r.composition} ${r.output}`);
      };
      try {
        for (const k of plan.ks) await batchRows(env, k, plan.t, seed, plan.outputs.map((o) => OUTPUTS[o]), onRow);
        await joinRows(env, plan.join.k, plan.join.tLong, plan.join.tShort, plan.join.numSteps, onRow);
        await pruneRows(env, plan.prune.k, plan.prune.t, plan.prune.numSteps, plan.prune.cancel, onRow);
        await planRows(env, plan.plan.k, plan.plan.t, onRow);
        await cemRows(env, plan.plan.k, plan.plan.t, onRow);
      } finally {
        bar.stop();
        await lpips?.close();
        await direct.close();
      }
      doc.models[slug] = { listing: listingFigures(rows), rows };
    }
    if (datasetDir) doc.dataset = await runDataset(client, catalog.models, datasetDir, datasetModel, emit);
  } finally {
    client.close();
    await server.stop();
  }

  if (write) {
    fs.writeFileSync(path.join(ROOT, "gpu", "quality.json"), `${toJson(doc, 2)}\n`);
    writeResults(path.join(ROOT, "docs", "RESULTS.md"), doc);
  }
  if (process.env.BENCH_OUT) fs.writeFileSync(process.env.BENCH_OUT, toJson(doc, 2));
  const all = Object.values(doc.models).flatMap((m) => m.rows);
  const exact = all.filter((r) => r.bit_exact !== null);
  const lossy = all.filter((r) => r.bit_exact === null);
  const lossySummary = lossy
    .filter((r) => r.composition === LISTING_SOURCE.composition)
    .map((r) => `${r.model.replace("dream-reference-", "")} ${r.output} ${r.psnr_db.toFixed(2)} dB/${r.ssim.toFixed(4)}`)
    .join(", ");
  const dataset = doc.dataset ? `; dataset: ${doc.dataset.summaries.map((s) => `${s.model} ${s.episodes} episodes ${s.psnr_db_mean.toFixed(2)} dB/${s.ssim_mean.toFixed(4)}`).join(", ")}` : "";
  process.stdout.write(
    `summary: ${exact.filter((r) => r.bit_exact).length}/${exact.length} lossless checks byte-identical to direct unbatched; K=1 lossy vs raw: ${lossySummary}; LPIPS ${lpipsFile ? "measured" : "not measured"}${dataset}; ${doc.failures.length === 0 ? "PASS" : `FAIL (${doc.failures.length}): ${doc.failures.join(" | ")}`}\n`,
  );
  if (doc.failures.length > 0) process.exitCode = 1;
}

async function runDataset(client: DreamClient, entries: CatalogEntry[], dir: string, defaultModel: string | undefined, emit: (r: unknown) => void): Promise<{ episodes: DatasetEpisodeRow[]; summaries: DatasetSummaryRow[] }> {
  const result = await evaluateDataset(
    dir,
    entries,
    async (entry, ep) => {
      const [h, w] = entry.resolution;
      const { response } = await client.predictBatch({
        model: entry.slug,
        startFrame: { encoding: FrameEncoding.RAW_RGB8, data: ep.startFrame, height: h, width: w },
        candidates: [packActions(ep.actions, ep.t, entry.actionDim)],
        params: { numSteps: ep.numSteps, seed: ep.seed },
        output: { encoding: FrameEncoding.RAW_RGB8, jpegQuality: 0 },
      });
      return response.rollouts[0]!.frames.slice(1);
    },
    { defaultModel, onEpisode: emit },
  );
  for (const s of result.summaries) emit(s);
  return result;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
