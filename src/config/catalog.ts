// The model catalog: slug → ONNX files, geometry, price and display metadata (the ModelSpec fields).
// Real DreamDojo exports drop in by editing gpu/catalog.json and pointing `files` at them.

export interface CatalogFiles {
  /** Paths relative to the catalog's model directory (DREAM_MODEL_DIR, default gpu/models). */
  encoder: string;
  step: string;
}

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
  /** Reference models are built by gpu/build-reference-models.ts when missing. */
  reference?: "full" | "tiny";
  benchmark?: { p50Ms?: number; p99Ms?: number; psnr?: number; ssim?: number; lpips?: number };
}

export interface Catalog {
  models: CatalogEntry[];
}
