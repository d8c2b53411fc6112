// Tensor packing shared by the worker (served path) and gpu/direct.ts (the in-process floor), so that
// both do exactly the same per-chunk work: gather lane states into one batch tensor, stack actions,
// noise and guidance, then scatter next states back out.
import { assert } from "../src/core/assert";
import { ServiceError } from "../src/core/errors";
import type { StepLane } from "../src/scheduler/executor";
import { chunkNoise } from "./prng";

export interface StepTensors {
  lanes: number;
  state: Float32Array; // [lanes, ...latent]
  actions: Float32Array; // [lanes, chunkSize, actionDim]
  noise: Float32Array; // [lanes, ...latent]
  guidance: Float32Array; // [lanes]
}

export function chunkCount(actionSteps: number, chunkSize: number): number {
  return Math.ceil(actionSteps / chunkSize);
}

/** Real (untrimmed) frames produced by chunk `chunkIndex` of a rollout of `actionSteps` actions. */
export function framesInChunk(actionSteps: number, chunkIndex: number, chunkSize: number): number {
  return Math.min(chunkSize, actionSteps - chunkIndex * chunkSize);
}

/** One chunk's actions from a (T, actionDim) row-major array; a trailing partial chunk is zero-padded. */
export function chunkActions(actions: Float32Array, actionSteps: number, chunkIndex: number, chunkSize: number, actionDim: number): Float32Array {
  assert(actions.length === actionSteps * actionDim, `actions: ${actions.length} values for T=${actionSteps}, dim=${actionDim}`);
  const from = chunkIndex * chunkSize * actionDim;
  const to = Math.min(actions.length, from + chunkSize * actionDim);
  assert(from < to, `chunk ${chunkIndex} is past the end of ${actionSteps} actions`);
  const out = new Float32Array(chunkSize * actionDim);
  out.set(actions.subarray(from, to));
  return out;
}

/**
 * Noise per (seed, chunk). Lanes of one request share a seed, so within a step the noise is made
 * once and copied K times; a few recent entries are kept because the same (seed, chunk) recurs when
 * a request's lanes are split across step calls.
 */
export class NoiseCache {
  private readonly entries = new Map<string, Float32Array>();
  constructor(
    readonly latentSize: number,
    private readonly capacity = 16,
  ) {}
  get(seed: bigint, chunkIndex: number): Float32Array {
    const key = `${BigInt.asUintN(64, seed)}:${chunkIndex}`;
    let noise = this.entries.get(key);
    if (noise === undefined) {
      noise = chunkNoise(seed, chunkIndex, this.latentSize);
      if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value!);
    } else {
      this.entries.delete(key); // re-inserted below: most recent last
    }
    this.entries.set(key, noise);
    return noise;
  }
}

export interface PackGeometry {
  latentSize: number;
  chunkSize: number;
  actionDim: number;
}

/** Gathers lanes into batch tensors. A missing state (released, or lost in a runner restart) is an engine failure. */
export function packStep(lanes: readonly StepLane[], states: ReadonlyMap<string, Float32Array>, geo: PackGeometry, noise: NoiseCache): StepTensors {
  const n = lanes.length;
  assert(n > 0, "a step needs at least one lane");
  const actionsPerLane = geo.chunkSize * geo.actionDim;
  const out: StepTensors = {
    lanes: n,
    state: new Float32Array(n * geo.latentSize),
    actions: new Float32Array(n * actionsPerLane),
    noise: new Float32Array(n * geo.latentSize),
    guidance: new Float32Array(n),
  };
  lanes.forEach((lane, i) => {
    const s = states.get(lane.inStateKey);
    if (s === undefined) {
      throw new ServiceError("ENGINE_FAILURE", `no latent state under key ${JSON.stringify(lane.inStateKey)} (released, or lost in a runner restart)`, { stateKey: lane.inStateKey });
    }
    assert(s.length === geo.latentSize, `state ${lane.inStateKey}: ${s.length} values, expected ${geo.latentSize}`);
    assert(lane.actions.length === actionsPerLane, `lane ${i}: ${lane.actions.length} action values, expected ${actionsPerLane} (pad a partial chunk)`);
    out.state.set(s, i * geo.latentSize);
    out.actions.set(lane.actions, i * actionsPerLane);
    out.noise.set(noise.get(lane.seed, lane.chunkIndex), i * geo.latentSize);
    out.guidance[i] = lane.guidance;
  });
  return out;
}

/** Stores each lane's next state under its outStateKey (copied, so the batch buffer is not kept alive). */
export function scatterNextState(lanes: readonly StepLane[], nextState: Float32Array, latentSize: number, states: Map<string, Float32Array>): void {
  assert(nextState.length === lanes.length * latentSize, "next_state size does not match the lanes");
  lanes.forEach((lane, i) => states.set(lane.outStateKey, nextState.slice(i * latentSize, (i + 1) * latentSize)));
}
