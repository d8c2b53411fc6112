// Scoring inside the worker, right after a step, from the frames and next states still in the worker.
// Lanes asking for the same scorer run as one batch (lanes are independent by contract, so a lane's
// cost does not depend on its company). A goal of one frame is broadcast over the chunk's frames; a goal
// of several frames (a goal trajectory) gives predicted frame t of the rollout goal min(t, count−1),
// and is scored by folding F into B: frames [n, F, …] are the same bytes as [n·F, 1, …], so only the
// goals are gathered.
import { assert } from "../../src/core/assert";
import { ServiceError } from "../../src/core/errors";
import type { StepLane } from "../../src/scheduler/executor";
import type { ScorerSessions, Scorer } from "./scorer-sessions";

export interface Goal {
  /** Goal frames: 1 (broadcast) or a trajectory, one per predicted frame. */
  count: number;
  /** uint8 [count, H, W, 3]. */
  frames: Uint8Array;
  /** float32 [count, ...latent]: the frames through encoder.onnx, once a latent scorer first reads them. */
  latents?: Float32Array;
}

export interface ScoreGeometry {
  chunkSize: number;
  frameBytes: number;
  latentSize: number;
  /**
   * Runs frames [count, H, W, 3] through the model's encoder. A goal's latents are made with it the
   * first time a latent scorer reads that goal, then kept: a plan scored by pixels never pays for them.
   */
  encode: (frames: Uint8Array, count: number) => Promise<Float32Array>;
}

/** Index into a goal for predicted frame `j` of chunk `chunkIndex` (0-based over the rollout's predicted frames). */
export function goalIndex(goal: Goal, chunkIndex: number, j: number, chunkSize: number): number {
  return Math.min(chunkIndex * chunkSize + j, goal.count - 1);
}

function rows<T extends Uint8Array | Float32Array>(src: T, idx: readonly number[], size: number, all: boolean, make: (n: number) => T): T {
  if (all) return src;
  const out = make(idx.length * size);
  idx.forEach((lane, k) => out.set(src.subarray(lane * size, (lane + 1) * size), k * size));
  return out;
}

async function scoreFrames(s: Scorer, sessions: ScorerSessions, lanes: readonly StepLane[], idx: number[], goals: Goal[], frames: Uint8Array, geo: ScoreGeometry): Promise<Float32Array> {
  const { chunkSize: f, frameBytes } = geo;
  const batch = rows(frames, idx, f * frameBytes, idx.length === lanes.length, (n) => new Uint8Array(n));
  const m = idx.length;
  if (goals.every((g) => g.count === 1)) {
    const goal = new Uint8Array(m * frameBytes);
    goals.forEach((g, k) => goal.set(g.frames.subarray(0, frameBytes), k * frameBytes));
    return sessions.runFrames(s, batch, goal, m, f);
  }
  assert(s.framesDimSymbolic, `scorer ${s.name} fixes F but got per-frame goals (checkScoreRequests lets none through)`);
  const goal = new Uint8Array(m * f * frameBytes);
  goals.forEach((g, k) => {
    const chunkIndex = lanes[idx[k]!]!.chunkIndex;
    for (let j = 0; j < f; j++) {
      const at = goalIndex(g, chunkIndex, j, f) * frameBytes;
      goal.set(g.frames.subarray(at, at + frameBytes), (k * f + j) * frameBytes);
    }
  });
  return sessions.runFrames(s, batch, goal, m * f, 1); // [m·f] is [m, f] row-major
}

async function scoreLatent(s: Scorer, sessions: ScorerSessions, lanes: readonly StepLane[], idx: number[], goals: Goal[], nextState: Float32Array, geo: ScoreGeometry): Promise<Float32Array> {
  const { chunkSize: f, latentSize } = geo;
  const state = rows(nextState, idx, latentSize, idx.length === lanes.length, (n) => new Float32Array(n));
  const goal = new Float32Array(idx.length * latentSize);
  for (const g of goals) g.latents ??= await geo.encode(g.frames, g.count);
  goals.forEach((g, k) => {
    const at = goalIndex(g, lanes[idx[k]!]!.chunkIndex, f - 1, f) * latentSize; // the chunk's last frame
    goal.set(g.latents!.subarray(at, at + latentSize), k * latentSize);
  });
  const perLane = await sessions.runLatent(s, state, goal, idx.length);
  const out = new Float32Array(idx.length * f);
  perLane.forEach((c, k) => out.fill(c, k * f, (k + 1) * f)); // one chunk-end cost, repeated over the chunk
  return out;
}

/**
 * Costs float32 [lanes, chunkSize] for the lanes that asked (NaN in the rows of lanes that did not), or
 * undefined when none asked. A latent scorer's row repeats its one chunk-end cost.
 */
export async function scoreLanes(lanes: readonly StepLane[], step: { frames: Uint8Array; nextState: Float32Array }, goals: ReadonlyMap<string, Goal>, sessions: ScorerSessions, geo: ScoreGeometry): Promise<Float32Array | undefined> {
  const groups = new Map<string, number[]>();
  lanes.forEach((lane, i) => {
    if (lane.score !== undefined) groups.set(lane.score.scorer, [...(groups.get(lane.score.scorer) ?? []), i]);
  });
  if (groups.size === 0) return undefined;
  const costs = new Float32Array(lanes.length * geo.chunkSize).fill(NaN);
  for (const [name, idx] of groups) {
    const s = sessions.get(name);
    assert(s !== undefined, `no scorer ${name} (checkScoreRequests lets none through)`);
    const laneGoals = idx.map((i) => lookupGoal(goals, lanes[i]!.score!.goalKey));
    const c = s.kind === "latent" ? await scoreLatent(s, sessions, lanes, idx, laneGoals, step.nextState, geo) : await scoreFrames(s, sessions, lanes, idx, laneGoals, step.frames, geo);
    idx.forEach((lane, k) => costs.set(c.subarray(k * geo.chunkSize, (k + 1) * geo.chunkSize), lane * geo.chunkSize));
  }
  return costs;
}

/** Every lane's score request names a loaded scorer and a live goal the scorer can take; run before the step so a bad one costs no compute. */
export function checkScoreRequests(lanes: readonly StepLane[], goals: ReadonlyMap<string, Goal>, sessions: ScorerSessions): void {
  for (const lane of lanes) {
    if (lane.score === undefined) continue;
    const s = sessions.get(lane.score.scorer);
    if (s === undefined) throw new ServiceError("INVALID_ARGUMENT", `no scorer ${JSON.stringify(lane.score.scorer)} in this model's catalog entry`, { scorer: lane.score.scorer });
    const goal = lookupGoal(goals, lane.score.goalKey);
    if (s.kind === "frames" && goal.count > 1 && !s.framesDimSymbolic) {
      throw new ServiceError("INVALID_ARGUMENT", `scorer ${JSON.stringify(s.name)} fixes its frame dimension, so it cannot take per-frame goals (goal ${JSON.stringify(lane.score.goalKey)} has ${goal.count} frames)`, { scorer: s.name, goalKey: lane.score.goalKey });
    }
  }
}

function lookupGoal(goals: ReadonlyMap<string, Goal>, key: string): Goal {
  const g = goals.get(key);
  if (g === undefined) throw new ServiceError("ENGINE_FAILURE", `no goal under key ${JSON.stringify(key)} (released, or never set)`, { goalKey: key });
  return g;
}
