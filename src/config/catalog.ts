// The model catalog: slug → ONNX files, geometry, price and display metadata (the ModelSpec fields).
// Real DreamDojo exports drop in by editing gpu/catalog.json and pointing `files` at them.

export interface CatalogFiles {
  /** Paths relative to the catalog's model directory (DREAM_MODEL_DIR, default gpu/models). */
  encoder: string;
  step: string;
}

/** Built-in scorers (gpu/scorers/, formulas in docs/MODEL_CONTRACT.md "Scorers"). */
export type BuiltinScorerName = "pixel-l2" | "pixel-l1" | "ssim" | "latent-mse";

/**
 * One named scorer of a model: a built-in (built in memory by the runner) or an ONNX file relative to
 * the model directory, used by name like a model. `downsample` (pixel-*, ssim; default 1) is the side of
 * the s x s average pool applied first; `window` (ssim; default 7) is the side of the box window.
 */
export type CatalogScorer =
  | { builtin: "pixel-l2" | "pixel-l1"; downsample?: number }
  | { builtin: "ssim"; downsample?: number; window?: number }
  | { builtin: "latent-mse" }
  | { file: string };

export interface CatalogEntry {
  slug: string;
  name: string;
  provider: string;
  upstreamProvider: string;
  category: string;
  summary: string;
  license: string;
  links: { label: string; url: string }[];
  files: CatalogFiles;
  /** [H, W] */
  resolution: [number, number];
  actionDim: number;
  chunkSize: number;
  fps: number;
  /** Canonical T (actions per rollout); frames_per_rollout = T + 1. */
  canonicalActionSteps: number;
  defaultNumSteps: number;
  defaultGuidance: number;
  modelSize: string;
  pricePerFrameMicros: number;
  /** Scheduling: most lanes in one step call, and how long a lone request may wait for company. */
  batchLanesMax: number;
  queueDelayUs: number;
  /**
   * Let ORT's intra-op threads spin between parallel sections for this model (default false; the
   * DREAM_ORT_SPINNING env var overrides every model). Worth it where parallel sections are long and
   * back to back (480p K=8 served: 0.963x the time, bench:overhead-ab -- --b DREAM_ORT_SPINNING=on),
   * costly where they are short or the cores are shared (tiny K=8 direct, bench:spinning: 1.05x the
   * time on a quiet host, 1.2x beside a busy thread, 1.9x / 2.9x while other processes loaded the host).
   */
  ortSpinning?: boolean;
  /** Reference models are built by gpu/build-reference-models.ts when missing. */
  reference?: "full" | "tiny";
  /** Scorers the runner loads beside the model, by name (at most limits.scorersPerModelMax). */
  scorers?: Record<string, CatalogScorer>;
  benchmark?: { p50Ms?: number; p99Ms?: number; psnr?: number; ssim?: number; lpips?: number };
}

export interface Catalog {
  models: CatalogEntry[];
}
