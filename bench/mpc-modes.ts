// The ways bench:mpc takes one decision (pick the best of K candidates from the robot's frame), each
// returning what the client received (bytes) and which candidate it chose:
//   client   PredictBatch raw → every frame over the wire → pixel L2 of the final frames in the client
//   rank     Planning.Plan, rank: rollouts and scoring next to the model; the decision comes back
//   prune    the same with successive halving at chunk boundaries (halving per chunk)
//   session  a control session's step (CEM, one iteration of K samples around the warm start)
//   direct   the floor: the same rollouts and final-frame scoring in this process, no server
import * as grpc from "@grpc/grpc-js";
import { packActions, type DreamClient } from "../clients/typescript/src";
import type { CatalogEntry } from "../src/config/catalog";
import { FrameEncoding, PredictBatchResponse, Priority, type Frame } from "../src/gen/dream/v1/dream";
import { CostAggregation, PlanResponse, StepSessionResponse, type CreateSessionRequest, type PlanningClient, type PlanRequest, type Session, type SessionsClient, type StepSessionRequest } from "../src/gen/dream/v1/planning";
import type { DirectModel } from "../gpu/direct";
import type { ScorerSessions } from "../gpu/scorers/scorer-sessions";
import { MASK_END, pixelL2 } from "./mpc-world";

export interface Decision {
  bytes: number;
  best: number;
}

export interface World {
  entry: CatalogEntry;
  steps: number;
  startFrame: Frame;
  goal: Uint8Array;
  /**
   * With `--cost track`: the hidden sequence's frames 1..T, a goal per predicted frame (goal_frames)
   * and the MEAN over frames; without, the final frame against `goal` (FINAL).
   */
  trajectory: Uint8Array[] | undefined;
  downsample: number;
}

/** Mean of per-frame costs against the trajectory, or the final frame's against the goal. */
function costOf(frames: Uint8Array[], w: World, h: number, wd: number): number {
  if (w.trajectory === undefined) return pixelL2(frames[w.steps]!, w.goal, h, wd, w.downsample);
  let sum = 0;
  for (let t = 1; t <= w.steps; t++) sum += pixelL2(frames[t]!, w.trajectory[t - 1]!, h, wd, w.downsample);
  return sum / w.steps;
}

const unary = <Req, Res>(fn: (req: Req, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req, md: grpc.Metadata): Promise<Res> =>
  new Promise((resolve, reject) => fn(req, md, (err, res) => (err ? reject(err) : resolve(res))));

export async function clientSide(client: DreamClient, w: World, candidates: Float32Array[]): Promise<Decision> {
  const { entry, steps } = w;
  const [h, wd] = entry.resolution;
  const { response } = await client.predictBatch({ model: entry.slug, startFrame: w.startFrame, candidates: candidates.map((c) => packActions(c, steps, entry.actionDim)), params: { numSteps: entry.defaultNumSteps, seed: 1 } });
  const costs = response.rollouts.map((r) => costOf(r.frames, w, h, wd));
  return { bytes: PredictBatchResponse.encode(response).finish().byteLength, best: costs.indexOf(Math.min(...costs)) };
}

export function rankRequest(w: World, candidates: Float32Array[], prune: boolean): PlanRequest {
  const { entry, steps } = w;
  return {
    model: entry.slug,
    startFrame: w.startFrame,
    actionSteps: 0,
    cost: costSpec(w),
    planner: { $case: "rank", value: { candidates: candidates.map((c) => packActions(c, steps, entry.actionDim)) } },
    sampling: undefined,
    pruning: prune ? { dropFraction: 0.5, keepMin: 1 } : undefined,
    budget: undefined,
    params: { numSteps: entry.defaultNumSteps, guidance: undefined, seed: 1 },
    output: undefined,
    deadlineMs: 0,
    requestId: "",
    priority: Priority.PRIORITY_UNSPECIFIED,
  };
}

function costSpec(w: World): PlanRequest["cost"] {
  const [height, width] = w.entry.resolution;
  const raw = (data: Uint8Array) => ({ encoding: FrameEncoding.RAW_RGB8, data, height, width });
  if (w.trajectory !== undefined) return { scorer: "pixel-l2", goal: undefined, aggregation: CostAggregation.MEAN, gamma: 0, goalFrames: w.trajectory.map(raw) };
  return { scorer: "pixel-l2", goal: raw(w.goal), aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] };
}

export async function serverRank(planning: PlanningClient, md: grpc.Metadata, w: World, candidates: Float32Array[], prune: boolean): Promise<Decision> {
  const res = await unary<PlanRequest, PlanResponse>(planning.plan.bind(planning), rankRequest(w, candidates, prune), md);
  return { bytes: PlanResponse.encode(res).finish().byteLength, best: res.ranking[0]! };
}

/** Opens the session the `session` mode steps (CEM, K samples, one iteration per decision). */
export async function openSession(sessions: SessionsClient, md: grpc.Metadata, w: World, k: number): Promise<string> {
  const plan: PlanRequest = {
    ...rankRequest(w, [], false),
    actionSteps: w.steps,
    planner: { $case: "cem", value: { samples: k, iterations: 1, elites: 2, momentum: 0.1, stdMin: 0.05 } },
    sampling: { mask: [{ start: 0, end: MASK_END }], nominal: undefined, warmStart: undefined, initStd: 0.5, low: [], high: [], holdSteps: w.steps, smoothing: 0 },
  };
  const s = await unary<CreateSessionRequest, Session>(sessions.createSession.bind(sessions), { plan, ttlS: 600, executeSteps: 0 }, md);
  return s.sessionId;
}

export async function sessionStep(sessions: SessionsClient, md: grpc.Metadata, id: string, w: World): Promise<Decision> {
  const res = await unary<StepSessionRequest, StepSessionResponse>(sessions.stepSession.bind(sessions), { sessionId: id, observation: w.startFrame, goal: undefined, executedSteps: 0, requestId: "" }, md);
  return { bytes: StepSessionResponse.encode(res).finish().byteLength, best: res.plan?.ranking[0] ?? -1 };
}

/** The floor: the same K rollouts on this process's ONNX sessions, scored by the same built-in scorer as the served path scores them. */
export async function direct(model: DirectModel, scorers: ScorerSessions, w: World, candidates: Float32Array[], into: Uint8Array | undefined): Promise<{ decision: Decision; frames: Uint8Array }> {
  const { entry, steps } = w;
  const k = candidates.length;
  const stacked = new Float32Array(k * steps * entry.actionDim);
  candidates.forEach((c, i) => stacked.set(c, i * steps * entry.actionDim));
  const run = await model.run({ k, t: steps, numSteps: entry.defaultNumSteps, seed: 1n, frame: w.startFrame.data, actions: stacked, into });
  const costs = await directCosts(scorers, w, run.frames, k);
  let best = 0;
  for (let c = 1; c < k; c++) if (costs[c]! < costs[best]!) best = c;
  return { decision: { bytes: 0, best }, frames: run.frames };
}

/**
 * The floor's scoring, as the served path scores: the final frames against the goal, or every
 * predicted frame against its trajectory frame (frames folded into lanes, as the executor folds
 * per-frame goals), averaged per candidate.
 */
async function directCosts(scorers: ScorerSessions, w: World, frames: Uint8Array, k: number): Promise<number[]> {
  const [h, wd] = w.entry.resolution;
  const frameBytes = h * wd * 3;
  const { steps } = w;
  const picked = w.trajectory === undefined ? [steps] : Array.from({ length: steps }, (_, i) => i + 1);
  const lanes = new Uint8Array(k * picked.length * frameBytes);
  const goals = new Uint8Array(k * picked.length * frameBytes);
  for (let c = 0; c < k; c++) {
    picked.forEach((t, j) => {
      const at = (c * picked.length + j) * frameBytes;
      lanes.set(frames.subarray((c * (steps + 1) + t) * frameBytes, (c * (steps + 1) + t + 1) * frameBytes), at);
      goals.set(w.trajectory === undefined ? w.goal : w.trajectory[t - 1]!, at);
    });
  }
  const costs = await scorers.runFrames(scorers.get("pixel-l2")!, lanes, goals, k * picked.length, 1);
  return Array.from({ length: k }, (_, c) => costs.subarray(c * picked.length, (c + 1) * picked.length).reduce((a, b) => a + b, 0) / picked.length);
}
