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
import { FrameEncoding, PredictBatchResponse, type Frame } from "../src/gen/dream/v1/dream";
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
  downsample: number;
}

const unary = <Req, Res>(fn: (req: Req, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req, md: grpc.Metadata): Promise<Res> =>
  new Promise((resolve, reject) => fn(req, md, (err, res) => (err ? reject(err) : resolve(res))));

export async function clientSide(client: DreamClient, w: World, candidates: Float32Array[]): Promise<Decision> {
  const { entry, steps } = w;
  const [h, wd] = entry.resolution;
  const { response } = await client.predictBatch({ model: entry.slug, startFrame: w.startFrame, candidates: candidates.map((c) => packActions(c, steps, entry.actionDim)), params: { numSteps: entry.defaultNumSteps, seed: 1 } });
  const costs = response.rollouts.map((r) => pixelL2(r.frames[steps]!, w.goal, h, wd, w.downsample));
  return { bytes: PredictBatchResponse.encode(response).finish().byteLength, best: costs.indexOf(Math.min(...costs)) };
}

export function rankRequest(w: World, candidates: Float32Array[], prune: boolean): PlanRequest {
  const { entry, steps } = w;
  return {
    model: entry.slug,
    startFrame: w.startFrame,
    actionSteps: 0,
    cost: { scorer: "pixel-l2", goal: { encoding: FrameEncoding.RAW_RGB8, data: w.goal, height: entry.resolution[0], width: entry.resolution[1] }, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] },
    planner: { $case: "rank", value: { candidates: candidates.map((c) => packActions(c, steps, entry.actionDim)) } },
    sampling: undefined,
    pruning: prune ? { dropFraction: 0.5, keepMin: 1 } : undefined,
    budget: undefined,
    params: { numSteps: entry.defaultNumSteps, guidance: undefined, seed: 1 },
    output: undefined,
    deadlineMs: 0,
    requestId: "",
  };
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

/** The floor: the same K rollouts on this process's ONNX sessions, and the final frames scored by the same built-in scorer. */
export async function direct(model: DirectModel, scorers: ScorerSessions, w: World, candidates: Float32Array[], into: Uint8Array | undefined): Promise<{ decision: Decision; frames: Uint8Array }> {
  const { entry, steps } = w;
  const [h, wd] = entry.resolution;
  const k = candidates.length;
  const stacked = new Float32Array(k * steps * entry.actionDim);
  candidates.forEach((c, i) => stacked.set(c, i * steps * entry.actionDim));
  const run = await model.run({ k, t: steps, numSteps: entry.defaultNumSteps, seed: 1n, frame: w.startFrame.data, actions: stacked, into });
  const frameBytes = h * wd * 3;
  const finals = new Uint8Array(k * frameBytes);
  const goals = new Uint8Array(k * frameBytes);
  for (let c = 0; c < k; c++) {
    finals.set(run.frames.subarray(((c * (steps + 1)) + steps) * frameBytes, ((c * (steps + 1)) + steps + 1) * frameBytes), c * frameBytes);
    goals.set(w.goal, c * frameBytes);
  }
  const costs = await scorers.runFrames(scorers.get("pixel-l2")!, finals, goals, k, 1);
  let best = 0;
  for (let c = 1; c < k; c++) if (costs[c]! < costs[best]!) best = c;
  return { decision: { bytes: 0, best }, frames: run.frames };
}
