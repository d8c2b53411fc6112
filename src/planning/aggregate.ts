// A candidate's cost from its per-frame costs (lower is better). Scorers give one cost per predicted
// frame; what counts depends on the task: reaching a pose (the final frame), tracking a path (every
// frame, possibly against a goal trajectory), or getting there soon (discounted).

export type Aggregation = { kind: "final" } | { kind: "mean" } | { kind: "discounted"; gamma: number };

/**
 * The weight of frame `t` of `frames` (sum 1 over the frames). Discounted weights γ^t favour early
 * progress; γ = 1 is the mean. Frame 0 is the conditioning frame: it is the same for every candidate,
 * so it carries no weight unless it is the only frame.
 */
export function frameWeights(aggregation: Aggregation, frames: number): Float64Array {
  const w = new Float64Array(frames);
  if (frames === 1) return w.fill(1);
  if (aggregation.kind === "final") {
    w[frames - 1] = 1;
    return w;
  }
  const gamma = aggregation.kind === "discounted" ? aggregation.gamma : 1;
  let sum = 0;
  for (let t = 1; t < frames; t++) sum += w[t] = gamma ** (t - 1);
  for (let t = 1; t < frames; t++) w[t]! /= sum;
  return w;
}

/** Sum of weight × cost over the frames scored so far (a prefix of the rollout). */
export function aggregateCost(perFrame: ArrayLike<number>, weights: Float64Array): number {
  let c = 0;
  for (let t = 0; t < perFrame.length; t++) c += weights[t]! * perFrame[t]!;
  return c;
}

/**
 * The cost so far for pruning at a chunk boundary: the weighted mean over the frames scored so far
 * (with "final" weights that is the last frame scored), so candidates at the same boundary compare
 * fairly and the number approaches the full cost as the rollout completes.
 */
export function partialCost(perFrame: ArrayLike<number>, aggregation: Aggregation): number {
  const n = perFrame.length;
  if (n === 0) return Infinity;
  if (aggregation.kind === "final" || n === 1) return perFrame[n - 1]!;
  return aggregateCost(perFrame, frameWeights(aggregation, n));
}
