// The built-in scorers as ONNX bytes, built in memory from the catalog's parameters: deterministic and
// byte-reproducible like the reference models (same IR/opset, fixed names, no timestamps). The runner
// builds them at load (well under a millisecond) instead of reading files the way ensureReferenceModels
// does for models: a built-in depends on the catalog's parameters and on the latent shape read from
// step.onnx, and bytes made at load can never be stale. Only custom scorers are files.
import type { BuiltinScorerName, CatalogScorer } from "../../src/config/catalog";
import { encodeModel, type ModelMeta } from "../onnx/graph";
import { latentScorerGraph } from "./latent-graph";
import { pixelScorerGraph, type FrameScorerGeometry } from "./pixel-graph";
import { ssimScorerGraph } from "./ssim-graph";

/** Bump when a built-in scorer graph changes meaningfully (written into the models' metadata). */
export const SCORER_BUILDER_VERSION = "1";
const IR_VERSION = 10; // the reference models' IR version and opset
const OPSET = 21;
export const SSIM_WINDOW_DEFAULT = 7;

export type BuiltinScorer = Extract<CatalogScorer, { builtin: BuiltinScorerName }>;

/** The catalog's parameters with defaults filled in, as a stable string (written into the metadata). */
export function builtinParams(s: BuiltinScorer): Record<string, number> {
  if (s.builtin === "latent-mse") return {};
  if (s.builtin === "ssim") return { downsample: s.downsample ?? 1, window: s.window ?? SSIM_WINDOW_DEFAULT };
  return { downsample: s.downsample ?? 1 };
}

function meta(s: BuiltinScorer, params: Record<string, number>, shape: string): ModelMeta {
  const described = Object.entries(params).map(([k, v]) => `${k}=${v}`).join(", ");
  return {
    irVersion: IR_VERSION,
    opset: OPSET,
    producerName: "dream-engine gpu/scorers/builtin.ts",
    producerVersion: SCORER_BUILDER_VERSION,
    docString: `Dream Engine built-in scorer ${s.builtin} (${described || "no parameters"}, ${shape}). Contract: docs/MODEL_CONTRACT.md, "Scorers".`,
    metadata: { "dream.contract": "dream-engine/scorer-contract/v1", "dream.scorer": s.builtin, "dream.scorer_params": described, "dream.shape": shape },
  };
}

/** One built-in scorer for a model of this geometry and latent shape. */
export function builtinScorerBytes(s: BuiltinScorer, geo: FrameScorerGeometry, latentShape: readonly number[]): Uint8Array {
  const p = builtinParams(s);
  const frames = `${geo.height}x${geo.width}`;
  switch (s.builtin) {
    case "pixel-l2":
    case "pixel-l1":
      return encodeModel(pixelScorerGraph(s.builtin === "pixel-l2" ? "l2" : "l1", geo, p.downsample!), meta(s, p, frames));
    case "ssim":
      return encodeModel(ssimScorerGraph(geo, p.downsample!, p.window!), meta(s, p, frames));
    case "latent-mse":
      return encodeModel(latentScorerGraph(latentShape), meta(s, p, `latent ${latentShape.join("x")}`));
  }
}
