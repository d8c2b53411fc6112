// Sessions.CreateSession: the template plan is validated exactly as Plan validates a request (under
// `plan.`), only sampling planners qualify (a step's warm start is a sampling mean), the goal is
// decoded once and kept raw, and nothing is charged: every step is billed as its own plan.
import { invalidArgument } from "../../../core/errors";
import { limits } from "../../../core/limits";
import { FrameEncoding, type Frame } from "../../../gen/dream/v1/dream";
import type { CreateSessionRequest, PlanRequest, Session } from "../../../gen/dream/v1/planning";
import type { Account, CodecPort } from "../../ports";
import type { ModelRegistry } from "../../registry";
import { decodeFrame, scorerOf } from "../admit-plan";
import { validatePlan } from "../validate-plan";
import { inTemplate, withFieldRenamed } from "./fields";
import { ttlOf } from "./policy";
import type { SessionState, SessionStore } from "./store";

export interface SessionDeps {
  models: ModelRegistry;
  codecs: CodecPort;
  sessions: SessionStore;
}

export async function createSession(deps: SessionDeps, req: CreateSessionRequest, account: Account): Promise<Session> {
  return sessionView(await openSession(deps, req, account));
}

export async function openSession(deps: SessionDeps, req: CreateSessionRequest, account: Account): Promise<SessionState> {
  const template = req.plan;
  if (template === undefined) throw invalidArgument("plan", "required: the plan every step runs (model, cost.goal, cem or mppi, sampling, ...)");
  const kind = template.planner?.$case;
  if (kind !== "cem" && kind !== "mppi") throw invalidArgument("plan.planner", `a session needs a sampling planner, cem or mppi (its warm start is the planner's mean), got ${kind ?? "none"}`);
  const ttl = ttlOf(req.ttlS, limits.sessionTtlSDefault, limits.sessionTtlSMax);
  if (typeof ttl === "string") throw invalidArgument("ttl_s", ttl);
  try {
    const { slot, engine } = deps.models.live(template.model);
    const entry = slot.entry;
    const spec = validatePlan({ ...template, startFrame: undefined }, entry);
    // The check Plan's admission makes, here so that a session that could never plan is refused now.
    scorerOf(spec.cost.scorer, engine);
    const [height, width] = entry.resolution;
    // Decoded once: a single goal, or every frame of a goal trajectory, kept raw for the steps.
    const goals = await Promise.all(spec.cost.goals.map((g, i) => decodeGoal(deps.codecs, g, [height, width], spec.cost.goalField(i))));
    const executeSteps = executeStepsOf(req.executeSteps, entry.chunkSize, spec.actionSteps);
    const cost = spec.cost.goals.length === 1 && (template.cost?.goalFrames ?? []).length === 0 ? { ...template.cost!, goal: goals[0]!, goalFrames: [] } : { ...template.cost!, goal: undefined, goalFrames: goals };
    const kept: PlanRequest = { ...template, startFrame: undefined, requestId: "", cost };
    return deps.sessions.open({ customerId: account.customerId, keyId: account.keyId, model: entry.slug, template: kept, shape: { steps: spec.actionSteps, dim: entry.actionDim }, ttlS: ttl, executeSteps });
  } catch (err) {
    throw withFieldRenamed(err, inTemplate);
  }
}

export const sessionView = (s: SessionState): Session => ({ sessionId: s.id, model: s.model, ttlS: s.ttlS, executeSteps: s.executeSteps, steps: s.steps });

/** A frame decoded once to RAW_RGB8 at the model's resolution, so that no step decodes it again. */
export async function decodeGoal(codecs: CodecPort, frame: Frame | undefined, [height, width]: [number, number], field: string): Promise<Frame> {
  return { encoding: FrameEncoding.RAW_RGB8, data: await decodeFrame(codecs, frame, [height, width], field), height, width };
}

/** Steps executed per decision: 0 = the model's chunk (at most T); never more than the horizon T. */
function executeStepsOf(asked: number, chunkSize: number, actionSteps: number): number {
  if (asked === 0) return Math.min(chunkSize, actionSteps);
  if (asked > actionSteps) throw invalidArgument("execute_steps", `expected 1..${actionSteps} (the plan's action_steps), got ${asked}`);
  return asked;
}

