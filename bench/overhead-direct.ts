// The direct floor for the overhead bench: a K-candidate rollout through the same ONNX sessions
// in-process (gpu/direct.ts), no worker, scheduler or transport. bench/overhead.ts compares the served
// path against these numbers; run alone it prints JSON (one line) and a human summary.
//
//   node --import tsx bench/overhead-direct.ts [--slug dream-reference-480p] [--k 8] [--t 48]
//        [--num-steps 4] [--repeats 3] [--threads N] [--ep cpu]
import { loadavg } from "node:os";
import type { CatalogEntry } from "../src/config/catalog";
import { DEFAULT_MODEL_DIR, ensureReferenceModels, readCatalog } from "../gpu/build-reference-models";
import { DirectModel } from "../gpu/direct";
import { sampleActions, sampleScene } from "../gpu/tools/samples";

export interface DirectBenchOptions {
  slug: string;
  k: number;
  t: number;
  numSteps?: number;
  seed?: bigint;
  repeats?: number;
  modelDir?: string;
  executionProvider?: string;
  intraOpThreads?: number;
}

export interface DirectBenchResult {
  slug: string;
  k: number;
  t: number;
  numSteps: number;
  repeats: number;
  /** Wall time of each measured rollout (after one warm-up rollout that is not counted). */
  wallMs: number[];
  minWallMs: number;
  medianWallMs: number;
  /** Per-chunk step times of the median run. */
  medianStepMs: number[];
  /**
   * Process CPU time (user+sys, all threads) of each rollout: far less sensitive than wall time to
   * other work on the machine. On an idle 2-core host wall ≈ cpu / 2.
   */
  cpuMs: number[];
  /** Load average (1 min) when the measurement ended, to judge how noisy the wall times are. */
  loadAverage1m: number;
  frames: number;
  frameBytes: number;
}

/** The inputs the served path must send too, so both sides do identical work. */
export async function directInputs(entry: CatalogEntry, k: number, t: number): Promise<{ frame: Uint8Array; actions: Float32Array }> {
  const [h, w] = entry.resolution;
  return { frame: await sampleScene(h, w), actions: sampleActions(k, t, entry.actionDim) };
}

export async function measureDirect(opts: DirectBenchOptions): Promise<DirectBenchResult> {
  const modelDir = opts.modelDir ?? DEFAULT_MODEL_DIR;
  const catalog = await readCatalog();
  const entry = catalog.models.find((m) => m.slug === opts.slug);
  if (entry === undefined) throw new Error(`unknown slug ${opts.slug}`);
  if (entry.reference !== undefined) await ensureReferenceModels(modelDir, { models: [entry] });
  const numSteps = opts.numSteps ?? entry.defaultNumSteps;
  const repeats = opts.repeats ?? 3;
  const { frame, actions } = await directInputs(entry, opts.k, opts.t);
  const model = await DirectModel.open(modelDir, entry, { executionProvider: opts.executionProvider, intraOpThreads: opts.intraOpThreads, warmLanes: opts.k });
  const runs: { wallMs: number; stepMs: number[]; cpuMs: number }[] = [];
  try {
    const input = { k: opts.k, t: opts.t, numSteps, seed: opts.seed ?? 0n, frame, actions };
    await model.run(input); // first full-size rollout grows ORT's arena; not counted
    for (let i = 0; i < repeats; i++) {
      const cpu0 = process.cpuUsage();
      const r = await model.run(input);
      const cpu = process.cpuUsage(cpu0);
      runs.push({ wallMs: r.wallMs, stepMs: r.stepMs, cpuMs: (cpu.user + cpu.system) / 1000 });
    }
  } finally {
    await model.close();
  }
  const sorted = [...runs].sort((a, b) => a.wallMs - b.wallMs);
  const median = sorted[Math.floor((sorted.length - 1) / 2)]!;
  const [h, w] = entry.resolution;
  return {
    slug: opts.slug,
    k: opts.k,
    t: opts.t,
    numSteps,
    repeats,
    wallMs: runs.map((r) => Math.round(r.wallMs)),
    minWallMs: Math.round(sorted[0]!.wallMs),
    medianWallMs: Math.round(median.wallMs),
    medianStepMs: median.stepMs.map((s) => Math.round(s)),
    cpuMs: runs.map((r) => Math.round(r.cpuMs)),
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
    frames: opts.k * (opts.t + 1),
    frameBytes: opts.k * (opts.t + 1) * h * w * 3,
  };
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (require.main === module) {
  const num = (name: string) => (flag(name) === undefined ? undefined : Number(flag(name)));
  measureDirect({
    slug: flag("slug") ?? "dream-reference-480p",
    k: num("k") ?? 8,
    t: num("t") ?? 48,
    numSteps: num("num-steps"),
    repeats: num("repeats"),
    intraOpThreads: num("threads"),
    executionProvider: flag("ep"),
  }).then(
    (r) => {
      console.log(JSON.stringify(r));
      console.error(
        `direct ${r.slug} K=${r.k} T=${r.t} num_steps=${r.numSteps}: median ${r.medianWallMs} ms, min ${r.minWallMs} ms over ${r.repeats} runs ` +
          `(chunks ${r.medianStepMs.join("/")} ms; cpu ${r.cpuMs.join("/")} ms; load ${r.loadAverage1m}; ${r.frames} frames, ${(r.frameBytes / 1e6).toFixed(0)} MB)`,
      );
    },
    (err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    },
  );
}
