// The planning tests' simulated task, shared with bench:mpc: action sequences held constant over the
// horizon in GR-1's slot of the unified action vector, so the frame they reach makes a goal a planner
// can find again.
import { Pcg32 } from "../../src/planning/rng";

export const MASK_END = 29; // GR-1's slot [0, 29) of the unified action vector

/** A held (piecewise-constant) sequence in the mask, zeros elsewhere. */
export function heldSequence(steps: number, dim: number, seed: number, scale: number): Float32Array {
  const r = new Pcg32(seed);
  const row = Array.from({ length: MASK_END }, () => scale * r.normal());
  const a = new Float32Array(steps * dim);
  for (let t = 0; t < steps; t++) for (let d = 0; d < MASK_END; d++) a[t * dim + d] = row[d]!;
  return a;
}
