// Sessions.StepSession: the session's template plan from this observation (and, when given, a new
// goal from now on), warm-started at the last decision's mean shifted by the steps executed since,
// run through Plan's own lifecycle — admitted, reserved, billed and settled as a plan of its own, with
// its own request id — and answered with the next execute_steps actions.
import { invalidArgument } from "../../../core/errors";
import type { Actions } from "../../../gen/dream/v1/dream";
import type { PlanRequest, PlanResponse, SamplingSpec, StepSessionRequest, StepSessionResponse } from "../../../gen/dream/v1/planning";
import { shiftSequence } from "../../../planning/actions";
import type { CallContext } from "../../context";
import type { Account } from "../../ports";
import { planDecision, type PlanDeps } from "../plan";
import { decodeGoal, type SessionDeps } from "./create";
import { inStep, withFieldRenamed } from "./fields";
import type { SessionState } from "./store";

export interface StepDeps extends SessionDeps {
  plan: PlanDeps;
}

export async function stepSession(deps: StepDeps, req: StepSessionRequest, ctx: CallContext, account: Account): Promise<StepSessionResponse> {
  if (!req.sessionId) throw invalidArgument("session_id", "required: the id CreateSession answered");
  if (!req.observation || req.observation.data.byteLength === 0) throw invalidArgument("observation", "required: the robot's current camera frame");
  const s = deps.sessions.beginStep(req.sessionId, account.customerId);
  let charged = 0;
  try {
    const planReq = await stepRequest(deps, s, req);
    const { response, mean } = await planDecision(deps.plan, planReq, ctx, account);
    charged = response.summary?.cost?.micros ?? 0;
    const step = s.steps;
    deps.sessions.endStep(s, { costMicros: charged, decided: true, mean });
    return { actions: firstSteps(response, s), plan: response, step };
  } catch (err) {
    if (s.running) deps.sessions.endStep(s, { costMicros: chargedBy(err), decided: false });
    throw withFieldRenamed(err, inStep);
  }
}

/** The template with this step's observation, goal, request id and warm start. */
async function stepRequest(deps: StepDeps, s: SessionState, req: StepSessionRequest): Promise<PlanRequest> {
  const { steps, dim } = s.shape;
  if (req.executedSteps > steps) throw invalidArgument("executed_steps", `expected 0..${steps} (the plan's action_steps; 0 = execute_steps, ${s.executeSteps}), got ${req.executedSteps}`);
  if (req.goal !== undefined && req.goal.data.byteLength > 0) {
    const kept = s.template.cost!.goal ?? s.template.cost!.goalFrames[0]!;
    // A new goal holds from this step on, whatever becomes of the step (it replaces a trajectory too).
    s.template = { ...s.template, cost: { ...s.template.cost!, goal: await decodeGoal(deps.codecs, req.goal, [kept.height, kept.width], "goal"), goalFrames: [] } };
  }
  const t = s.template;
  const sampling = s.mean === undefined ? t.sampling : withWarmStart(t.sampling, shiftSequence(s.mean, s.shape, req.executedSteps || s.executeSteps), steps, dim);
  return { ...t, startFrame: req.observation, requestId: req.requestId, sampling };
}

/**
 * The warm start rule: the last decision's planner mean with the executed steps dropped and the last
 * step repeated at the end (planning/actions.ts shiftSequence), in place of the template's.
 */
function withWarmStart(sampling: SamplingSpec | undefined, warm: Float32Array, steps: number, dim: number): SamplingSpec {
  const warmStart: Actions = { data: new Uint8Array(warm.buffer, warm.byteOffset, warm.byteLength), shape: [steps, dim] };
  const base: SamplingSpec = sampling ?? { mask: [], nominal: undefined, warmStart: undefined, initStd: 0, low: [], high: [], holdSteps: 0, smoothing: 0 };
  return { ...base, warmStart };
}

/** The first execute_steps rows of the best sequence: what the robot runs before its next step. */
function firstSteps(response: PlanResponse, s: SessionState): Actions | undefined {
  const best = response.bestActions;
  if (best === undefined) return undefined;
  const bytes = s.executeSteps * s.shape.dim * 4;
  return { data: best.data.subarray(0, bytes), shape: [s.executeSteps, s.shape.dim] };
}

/** What a failed step was still charged (deadline, cancel: the frames generated), from its details. */
function chargedBy(err: unknown): number {
  const details = (err as { details?: Record<string, unknown> } | undefined)?.details;
  const micros = details?.charged_micros;
  return typeof micros === "number" ? micros : 0;
}
