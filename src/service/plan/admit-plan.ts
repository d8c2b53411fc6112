// Everything that can refuse a plan without cost, in order: the model, the request's shape and
// parameters, the scorer, the frames, the budget, and then the balance (402 before any engine work).
// The reserve covers the worst case the budget allows: every allowed iteration running in full.
import type { Clock } from "../../core/clock";
import { invalidArgument } from "../../core/errors";
import { requestIdOrNew } from "../../core/ids";
import { limits } from "../../core/limits";
import type { Frame } from "../../gen/dream/v1/dream";
import type { PlanRequest } from "../../gen/dream/v1/planning";
import { framesForMicros, iterationsWithin } from "../../planning/budget";
import type { CallContext } from "../context";
import type { Account, BillingPort, CodecPort, ModelEngine, ModelSlot } from "../ports";
import { holdFor, type HoldRecord } from "../hold-record";
import type { InflightRequests, ModelRegistry } from "../registry";
import { encodingName } from "../validate";
import { validatePlan, type PlanSpec } from "./validate-plan";

export interface PlanAdmitDeps {
  models: ModelRegistry;
  inflight: InflightRequests;
  billing: BillingPort;
  codecs: CodecPort;
  clock: Clock;
  /** Integer micro-USD for `frames` at the model's price (the predict flow's rounding rule). */
  chargeMicros(frames: number, pricePerFrameMicros: number): number;
}

export interface AdmittedPlan {
  requestId: string;
  /** Whether the hold's durable record is in the ledger yet: nothing is sent or settled before it is. */
  record: HoldRecord;
  engineRequestId: string;
  account: Account;
  slot: ModelSlot;
  engine: ModelEngine;
  spec: PlanSpec;
  scorer: string;
  startFrame: Uint8Array;
  /** Raw goal frame(s) back to back: one, or the trajectory (the executor's GoalItem layout). */
  goal: Uint8Array;
  /** Iterations the budget allows (<= spec.iterations); fewer is reported as FRAME_CAP. */
  iterationsAllowed: number;
  priceMicros: number;
  deadlineUs: number | undefined;
  budgetEndUs: number | undefined;
  startedUs: number;
}

export async function admitPlan(deps: PlanAdmitDeps, req: PlanRequest, ctx: CallContext, account: Account): Promise<AdmittedPlan> {
  const { slot, engine } = deps.models.live(req.model);
  const entry = slot.entry;
  const spec = validatePlan(req, entry);
  const scorer = scorerOf(spec.cost.scorer, engine);
  const requestId = req.requestId ? requestIdOrNew(req.requestId) : ctx.requestId;
  const startFrame = await decodeFrame(deps.codecs, req.startFrame, entry.resolution, "start_frame");
  const goal = await decodeGoals(deps.codecs, spec, entry.resolution);
  const framesPerIteration = spec.samples * (spec.actionSteps + 1);
  const iterationsAllowed = allowedIterations(spec, framesPerIteration, entry.pricePerFrameMicros);
  const priceMicros = deps.chargeMicros(iterationsAllowed * framesPerIteration, entry.pricePerFrameMicros);
  const nowUs = deps.clock.nowUs();
  const inflight = deps.inflight.add(requestId, { customerId: account.customerId, engine });
  let record: HoldRecord;
  try {
    // The gate now; the ledger's record while the first iteration starts (plan.ts waits for it).
    record = await holdFor(deps.billing, account, requestId, priceMicros);
  } catch (err) {
    deps.inflight.remove(requestId, account.customerId);
    throw err;
  }
  const deadlineFromCtx = ctx.deadlineWallMs === undefined ? undefined : nowUs + (ctx.deadlineWallMs - deps.clock.wallMs()) * 1000;
  const deadlineFromReq = spec.deadlineMs === undefined ? undefined : nowUs + spec.deadlineMs * 1000;
  return {
    requestId,
    record,
    engineRequestId: inflight.engineRequestId,
    account,
    slot,
    engine,
    spec,
    scorer,
    startFrame,
    goal,
    iterationsAllowed,
    priceMicros,
    deadlineUs: minDefined(deadlineFromCtx, deadlineFromReq),
    budgetEndUs: spec.budget.timeBudgetMs === undefined ? undefined : nowUs + spec.budget.timeBudgetMs * 1000,
    startedUs: nowUs,
  };
}

/** The scorer asked for, or the model's first pixel scorer (then any) when the request names none. */
export function scorerOf(asked: string, engine: ModelEngine): string {
  const scorers = engine.scorers ?? {};
  const names = Object.keys(scorers);
  if (asked === "") {
    const chosen = names.find((n) => scorers[n] === "frames") ?? names[0];
    if (chosen === undefined) throw invalidArgument("cost.scorer", `model ${engine.entry.slug} has no scorers (catalog "scorers"), so it cannot plan`);
    return chosen;
  }
  if (scorers[asked] === undefined) throw invalidArgument("cost.scorer", `model ${engine.entry.slug} has no scorer ${JSON.stringify(asked)}; it has ${names.length ? names.join(", ") : "none"}`);
  return asked;
}

/** A request frame decoded to raw RGB8 at the model's resolution; errors name `field`. */
export function decodeFrame(codecs: CodecPort, frame: Frame | undefined, [height, width]: [number, number], field: string): Promise<Uint8Array> {
  if (!frame || frame.data.byteLength === 0) throw invalidArgument(field, `required: a ${height}x${width} (HxW) PNG, JPEG or RAW_RGB8 frame`);
  return codecs.decodeStartFrame({ encoding: encodingName(frame.encoding), data: frame.data, height: frame.height, width: frame.width }, { height, width }, field);
}

/** The goal frame, or the trajectory's frames decoded and laid back to back (as the executor keeps goals). */
async function decodeGoals(codecs: CodecPort, spec: PlanSpec, resolution: [number, number]): Promise<Uint8Array> {
  const frames = await Promise.all(spec.cost.goals.map((g, i) => decodeFrame(codecs, g, resolution, spec.cost.goalField(i))));
  if (frames.length === 1) return frames[0]!;
  const out = new Uint8Array(frames.reduce((n, f) => n + f.byteLength, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f, at);
    at += f.byteLength;
  }
  return out;
}

/** Iterations within the frame and money caps; a cap that does not cover one iteration is the caller's error. */
function allowedIterations(spec: PlanSpec, framesPerIteration: number, pricePerFrameMicros: number): number {
  const { framesMax, costMaxMicros } = spec.budget;
  const caps = [framesMax, costMaxMicros === undefined ? undefined : framesForMicros(costMaxMicros, pricePerFrameMicros)].filter((c): c is number => c !== undefined);
  const cap = caps.length === 0 ? undefined : Math.min(...caps);
  const allowed = iterationsWithin({ candidates: spec.samples, framesPerCandidate: spec.actionSteps + 1 }, spec.iterations, cap);
  if (allowed === 0) {
    const field = framesMax !== undefined && framesMax === cap ? "budget.frames_max" : "budget.cost_max_micros";
    throw invalidArgument(field, `the cap (${cap} frames) does not cover one iteration of ${framesPerIteration} frames (K x (T+1))`);
  }
  if (allowed * framesPerIteration > limits.planWorstCaseFramesMax) {
    throw invalidArgument("planner", `the worst case, ${allowed * framesPerIteration} frames (iterations x K x (T+1)), is over ${limits.planWorstCaseFramesMax}; lower it or cap budget.frames_max`);
  }
  return allowed;
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}
