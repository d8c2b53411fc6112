// Model-predictive path integral: the new mean is the candidates' average weighted by exp(-cost / λ)
// (Williams et al. 2017). Costs are shifted by their minimum first, so the best candidate's weight is
// 1 and no weight underflows to 0 for all of them at once, whatever the costs' scale. Small λ trusts
// the best few (approaching argmin), large λ averages broadly.

export function mppiWeights(costs: ArrayLike<number>, lambda: number): Float64Array {
  let min = Infinity;
  for (let i = 0; i < costs.length; i++) if (costs[i]! < min) min = costs[i]!;
  const w = new Float64Array(costs.length);
  let sum = 0;
  for (let i = 0; i < costs.length; i++) {
    const c = costs[i]!;
    sum += w[i] = Number.isFinite(c) ? Math.exp(-(c - min) / lambda) : 0;
  }
  // Every cost infinite (every lane failed): no candidate is preferred, so none moves the mean more.
  if (sum === 0) return w.fill(1 / Math.max(1, w.length));
  for (let i = 0; i < w.length; i++) w[i]! /= sum;
  return w;
}

/** The weighted mean of the candidates in masked dimensions; the rest stay as `prevMean` has them. */
export function mppiMean(prevMean: Float32Array, candidates: readonly Float32Array[], costs: ArrayLike<number>, lambda: number, mask: Uint8Array, dim: number): Float32Array {
  const w = mppiWeights(costs, lambda);
  const mean = new Float32Array(prevMean.length);
  for (let i = 0; i < mean.length; i++) {
    if (mask[i % dim] === 0) {
      mean[i] = prevMean[i]!;
      continue;
    }
    let m = 0;
    for (let k = 0; k < candidates.length; k++) m += w[k]! * candidates[k]![i]!;
    mean[i] = m;
  }
  return mean;
}
