// The simulated task every bench:mpc mode decides on: a start frame, a goal (the frame a hidden held
// action sequence reaches) and per decision K candidate sequences around the hidden one; plus the
// client-side scorer a client doing MPC itself would run (pixel L2 of the final frame at the catalog
// scorer's downsampling, the same formula as the built-in pixel-l2 scorer: docs/MODEL_CONTRACT.md).
import { Pcg32 } from "../src/planning/rng";
import { MASK_END } from "../test/e2e/plan-world";

export { heldSequence, MASK_END } from "../test/e2e/plan-world";

/** K candidates of decision `round`: the hidden sequence perturbed, one of them (round % K) exactly. */
export function candidatesFor(hidden: Float32Array, dim: number, k: number, round: number): Float32Array[] {
  return Array.from({ length: k }, (_, c) => {
    if (c === round % k) return Float32Array.from(hidden);
    const r = new Pcg32(1000 + round * 64 + c);
    return hidden.map((v, i) => (i % dim < MASK_END ? v + 0.5 * r.normal() : 0));
  });
}

/** Mean squared difference of s x s block means, in [0, 1] pixel units (the built-in pixel-l2). */
export function pixelL2(frame: Uint8Array, goal: Uint8Array, height: number, width: number, s: number): number {
  const bh = height / s;
  const bw = width / s;
  const inv = 1 / (s * s * 255);
  let sum = 0;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      for (let ch = 0; ch < 3; ch++) {
        let a = 0;
        let b = 0;
        for (let y = by * s; y < (by + 1) * s; y++) {
          let i = (y * width + bx * s) * 3 + ch;
          for (let x = 0; x < s; x++, i += 3) {
            a += frame[i]!;
            b += goal[i]!;
          }
        }
        const d = (a - b) * inv;
        sum += d * d;
      }
    }
  }
  return sum / (bh * bw * 3);
}
