// Candidate sampling around a mean sequence: Gaussian noise scaled by a per-element standard deviation,
// only in the masked dimensions (the others stay at the nominal sequence), temporally correlated so
// that a sequence is physically plausible, then clipped to per-dimension bounds.
//
// Correlation (DINO-WM and most CEM-for-robotics code use one of these two):
//   hold n   — one noise draw per dimension every n steps, held constant in between (piecewise constant)
//   smooth a — exponential smoothing of white noise, e_t = a e_{t-1} + sqrt(1 - a^2) w_t, which keeps
//              each step's variance at 1 so `std` means the same thing with and without smoothing
import type { ActionShape, DimBounds } from "./actions";
import type { Pcg32 } from "./rng";

export type Correlation = { kind: "none" } | { kind: "hold"; steps: number } | { kind: "smooth"; alpha: number };

export interface SamplingSpec {
  shape: ActionShape;
  /** 1 = sample this dimension, 0 = hold it at `nominal`. */
  mask: Uint8Array;
  /** Where unmasked dimensions stay (T*D); zeros when the caller gave none. */
  nominal: Float32Array;
  correlation: Correlation;
  bounds?: DimBounds;
}

/** Unit-variance noise for one candidate, (T, D), correlated over time per the spec. */
export function correlatedNoise(spec: SamplingSpec, rng: Pcg32, out: Float32Array): void {
  const { steps, dim } = spec.shape;
  const c = spec.correlation;
  for (let d = 0; d < dim; d++) {
    if (spec.mask[d] === 0) continue;
    let e = 0;
    for (let t = 0; t < steps; t++) {
      if (c.kind === "hold") {
        if (t % c.steps === 0) e = rng.normal();
      } else if (c.kind === "smooth") {
        e = t === 0 ? rng.normal() : c.alpha * e + Math.sqrt(1 - c.alpha * c.alpha) * rng.normal();
      } else e = rng.normal();
      out[t * dim + d] = e;
    }
  }
}

/**
 * K candidates, each mean + std * noise in masked dimensions and nominal elsewhere, clipped to bounds.
 * Candidate i draws from its own stream of `seed` so that K and the order of sampling cannot change
 * what candidate i is (and a pruned or resized batch stays comparable).
 */
export function sampleCandidates(spec: SamplingSpec, mean: Float32Array, std: Float32Array, count: number, rngFor: (candidate: number) => Pcg32): Float32Array[] {
  const n = spec.shape.steps * spec.shape.dim;
  const out: Float32Array[] = [];
  const noise = new Float32Array(n);
  for (let k = 0; k < count; k++) {
    correlatedNoise(spec, rngFor(k), noise);
    const seq = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const d = i % spec.shape.dim;
      seq[i] = spec.mask[d] === 1 ? clip(mean[i]! + std[i]! * noise[i]!, spec.bounds, d) : spec.nominal[i]!;
    }
    out.push(seq);
  }
  return out;
}

const clip = (v: number, bounds: DimBounds | undefined, d: number): number => (bounds === undefined ? v : Math.min(bounds.high[d]!, Math.max(bounds.low[d]!, v)));
