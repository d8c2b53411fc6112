// The cross-entropy method's update: refit the sampling distribution's mean and standard deviation to
// the elite candidates (the E lowest costs), blended with the previous ones by `momentum` (DINO-WM and
// PETS smooth the update this way so one lucky sample does not collapse the distribution), with a
// floor on the deviation so sampling never stops exploring entirely.
import { elites } from "./rank";

export interface Gaussian {
  mean: Float32Array;
  std: Float32Array;
}

export interface CemUpdate {
  eliteCount: number;
  /** 0 = take the elites' statistics as they are; 0.9 = move 10% of the way. */
  momentum: number;
  stdMin: number;
}

export function cemUpdate(prev: Gaussian, candidates: readonly Float32Array[], costs: ArrayLike<number>, u: CemUpdate, mask: Uint8Array, dim: number): Gaussian {
  const chosen = elites(costs, u.eliteCount).map((i) => candidates[i]!);
  const n = prev.mean.length;
  const mean = new Float32Array(n);
  const std = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (mask[i % dim] === 0) {
      mean[i] = prev.mean[i]!;
      std[i] = prev.std[i]!;
      continue;
    }
    let m = 0;
    for (const c of chosen) m += c[i]!;
    m /= chosen.length;
    let v = 0;
    for (const c of chosen) v += (c[i]! - m) ** 2;
    const s = Math.sqrt(v / chosen.length);
    mean[i] = u.momentum * prev.mean[i]! + (1 - u.momentum) * m;
    std[i] = Math.max(u.stdMin, u.momentum * prev.std[i]! + (1 - u.momentum) * s);
  }
  return { mean, std };
}
