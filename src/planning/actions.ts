// Action sequences as planners see them: a (T, D) float32 matrix, row-major (step-major), exactly the
// wire layout of Actions.data, so a planned sequence goes to the engine without a copy or a transpose.

export interface ActionShape {
  steps: number; // T
  dim: number; // D
}

/** A half-open range [start, end) of action dimensions (a robot's slot of the unified 384-d vector). */
export interface DimRange {
  start: number;
  end: number;
}

/** Per-dimension inclusive bounds; a sampled value outside is clipped onto them. */
export interface DimBounds {
  low: Float32Array; // length D
  high: Float32Array; // length D
}

export const sequenceLength = (s: ActionShape): number => s.steps * s.dim;

/** 1 for each dimension inside one of `ranges`, else 0; an empty list masks every dimension in. */
export function dimMask(dim: number, ranges: readonly DimRange[]): Uint8Array {
  const mask = new Uint8Array(dim);
  if (ranges.length === 0) return mask.fill(1);
  for (const r of ranges) mask.fill(1, r.start, r.end);
  return mask;
}

/**
 * The sequence shifted `executed` steps earlier (a receding horizon's warm start: the steps just
 * executed are dropped and the tail is filled by repeating the last step, the usual MPC choice).
 */
export function shiftSequence(seq: Float32Array, shape: ActionShape, executed: number): Float32Array {
  const out = new Float32Array(seq.length);
  const kept = Math.max(0, shape.steps - executed);
  out.set(seq.subarray(executed * shape.dim, shape.steps * shape.dim), 0);
  const last = seq.subarray((shape.steps - 1) * shape.dim, shape.steps * shape.dim);
  for (let t = kept; t < shape.steps; t++) out.set(last, t * shape.dim);
  return out;
}
