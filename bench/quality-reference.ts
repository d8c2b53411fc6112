// The quality bench's ground for served output: each candidate rolled out ALONE (k = 1) through the
// same ONNX sessions in this process (gpu/direct.ts: no worker, scheduler or transport), so a served
// frame that differs from it names either the serving path or batching. Results are cached by
// (actions, seed, num_steps), since several compositions send the same candidate.
import { createHash } from "node:crypto";
import type { DirectModel } from "../gpu/direct";

export class DirectReference {
  private readonly cache = new Map<string, Uint8Array[]>();
  /** Direct rollouts actually run (cache misses), for the run's log. */
  runs = 0;

  constructor(
    readonly direct: DirectModel,
    /** Raw RGB8 start frame at the model's resolution. */
    readonly startFrame: Uint8Array,
  ) {}

  private get frameBytes(): number {
    const [h, w] = this.direct.entry.resolution;
    return h * w * 3;
  }

  /** Frames 0..t (frame 0 = the start frame) of one candidate run unbatched. */
  async candidate(actions: Float32Array, t: number, seed: number, numSteps: number): Promise<Uint8Array[]> {
    const key = `${seed}:${numSteps}:${t}:${createHash("sha1").update(new Uint8Array(actions.buffer, actions.byteOffset, actions.byteLength)).digest("hex")}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const { frames } = await this.direct.run({ k: 1, t, numSteps, seed: BigInt(seed), frame: this.startFrame, actions });
    this.runs++;
    const out = Array.from({ length: t + 1 }, (_, f) => frames.subarray(f * this.frameBytes, (f + 1) * this.frameBytes));
    this.cache.set(key, out);
    return out;
  }

  /**
   * The same candidates in ONE direct call (k lanes): a diagnostic beside the served check, so that a
   * served mismatch can be told apart from batching alone changing ORT's arithmetic.
   */
  async batched(perCandidate: Float32Array[], t: number, seed: number, numSteps: number): Promise<Uint8Array[][]> {
    const dim = this.direct.entry.actionDim;
    const stacked = new Float32Array(perCandidate.length * t * dim);
    perCandidate.forEach((a, i) => stacked.set(a, i * t * dim));
    const { frames } = await this.direct.run({ k: perCandidate.length, t, numSteps, seed: BigInt(seed), frame: this.startFrame, actions: stacked });
    this.runs++;
    const fb = this.frameBytes;
    return perCandidate.map((_, c) => Array.from({ length: t + 1 }, (_, f) => frames.subarray((c * (t + 1) + f) * fb, (c * (t + 1) + f + 1) * fb)));
  }
}
