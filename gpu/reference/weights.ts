// Seeded weights: each tensor's values depend only on (model kind, tensor name), never on build order.
import { Xoshiro128, fnv1a64 } from "../prng";

export function normalWeights(kind: string, tensor: string, count: number, std: number): Float32Array {
  return new Xoshiro128(fnv1a64(`dream-reference/${kind}/${tensor}`)).fillNormal(new Float32Array(count), std);
}

/** [rows, cols] with an identity block on the first min(rows, cols) diagonal and `rest` elsewhere. */
export function identityPlus(rows: number, cols: number, rest: (r: number, c: number) => number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = r === c ? 1 : rest(r, c);
  return out;
}
