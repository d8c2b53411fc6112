// Shape and tuning of a reference model. Geometry comes from the catalog entry; the rest is fixed per
// reference kind so that the same kind always builds the same bytes.
import { assert } from "../../src/core/assert";
import type { CatalogEntry } from "../../src/config/catalog";

export const LATENT_CHANNELS = 16; // DreamDojo's latent: 16 channels ...
export const DOWNSAMPLE = 8; // ... at 8x spatial downsampling
/** The 16 latent channels are 12 "appearance" channels (RGB logits on a 2x2 sub-grid of each latent pixel) + 4 hidden ones. */
export const APPEARANCE_CHANNELS = 12;
export const APPEARANCE_BLOCK = 2;

export interface ReferenceParams {
  kind: "full" | "tiny";
  height: number;
  width: number;
  actionDim: number;
  chunkSize: number;
  /** Width of the refinement network run num_steps times per chunk: the knob that sets compute per step. */
  refineChannels: number;
  /** Standard deviation of the injected noise, in logit units of the latent. */
  noiseScale: number;
  /** Fraction of the distance to the guided target covered per denoising step (residual noise = (1-relax)^num_steps). */
  relax: number;
  /** Scale of the refinement network's output (its residual added per step). */
  refineGain: number;
  /** Per-action motion gains: translation x, y (normalized image units), rotation (rad), log-zoom. */
  motionGains: [number, number, number, number];
  /** Action embedding added per frame: to appearance channels (a tint) and to hidden channels. */
  embedGainAppearance: number;
  embedGainHidden: number;
  /** Hidden channels decay per chunk so that action embeddings never accumulate without bound. */
  hiddenDecay: number;
}

/**
 * refineChannels for "full" was tuned on a 2-core CPU so that a K=8, T=48 rollout at num_steps=4 costs
 * several seconds direct (docs/MODEL_CONTRACT.md has the measured figure): real DreamDojo 2B is heavily
 * compute-bound and the overhead bench needs a realistic compute floor.
 */
const REFINE_CHANNELS = { full: 96, tiny: 16 } as const;

export function referenceParams(entry: CatalogEntry): ReferenceParams {
  assert(entry.reference !== undefined, `${entry.slug} is not a reference model`);
  const [height, width] = entry.resolution;
  assert(height % DOWNSAMPLE === 0 && width % DOWNSAMPLE === 0, `${entry.slug}: resolution must be a multiple of ${DOWNSAMPLE}`);
  return {
    kind: entry.reference,
    height,
    width,
    actionDim: entry.actionDim,
    chunkSize: entry.chunkSize,
    refineChannels: REFINE_CHANNELS[entry.reference],
    noiseScale: 1.0,
    relax: 0.5,
    refineGain: 0.01,
    motionGains: [0.04, 0.04, 0.03, 0.01],
    embedGainAppearance: 0.05,
    embedGainHidden: 0.5,
    hiddenDecay: 0.5,
  };
}
