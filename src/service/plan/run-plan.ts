// A plan's iterations on the engine, from an admitted plan to its settled response: propose →
// roll out and score (iteration.ts) → observe, until the iterations run out, the anytime budget says
// stop (OK, best so far), or something ends the request (deadline, cancel: post what ran; engine
// failure: void). The goal lives in the executor for exactly the plan's lifetime.
import { ServiceError } from "../../core/errors";
import { startAnotherIteration } from "../../planning/budget";
import { Planner, type IterationStats as PlannerStats } from "../../planning/planner";
import { PlanStop, type IterationStats } from "../../gen/dream/v1/planning";
import type { CallContext } from "../context";
import type { AdmittedPlan } from "./admit-plan";
import { runIteration, type IterationOutcome } from "./iteration";

export interface PlanRun {
  planner: Planner;
  stats: IterationStats[];
  last: IterationOutcome | undefined;
  /** Predicted frames over every iteration (conditioning frames not counted). */
  predictedFrames: number;
  /** Candidates that generated anything, per iteration summed: each also bills its conditioning frame. */
  conditioningFrames: number;
  stopped: PlanStop;
  engineUs: number;
  /** Why the plan ended early, if it did (DEADLINE_EXCEEDED, CANCELLED, ENGINE_FAILURE). */
  failure: ServiceError | undefined;
}

export async function runPlan(p: AdmittedPlan, ctx: CallContext, nowUs: () => number, onIteration?: (s: IterationStats) => Promise<void>): Promise<PlanRun> {
  const { spec, engine } = p;
  const planner = new Planner(spec.planner, spec.sampling, spec.seed);
  const run: PlanRun = { planner, stats: [], last: undefined, predictedFrames: 0, conditioningFrames: 0, stopped: PlanStop.COMPLETED, engineUs: 0, failure: undefined };
  const goalKey = `${p.engineRequestId}/goal`;
  if (!engine.setGoal) throw new ServiceError("INVALID_ARGUMENT", `model ${engine.entry.slug} cannot score`, { field: "cost.scorer" });
  // Not awaited before the first iteration: the executor takes the goal before any run that scores
  // against it (calls reach it in order), and waiting for the reply first cost a chunk boundary of
  // its own behind batch work. A goal that failed fails the plan (the iteration scored against
  // nothing, and the worker refuses such lanes before any compute).
  const goalSet = engine.setGoal(goalKey, p.goal).then(
    () => undefined,
    (err: unknown) => err,
  );
  let slowestUs = 0;
  try {
    for (let i = 0; i < p.iterationsAllowed; i++) {
      if (!startAnotherIteration(nowUs(), p.budgetEndUs, i, slowestUs)) {
        run.stopped = PlanStop.TIME_BUDGET;
        break;
      }
      const startedUs = nowUs();
      const budget = budgetCut(ctx.signal, i === 0 || p.budgetEndUs === undefined ? undefined : (p.budgetEndUs - startedUs) / 1000);
      const outcome = await iterate(p, { ...ctx, signal: budget.signal }, planner, goalKey, i).finally(budget.clear);
      if (i === 0) {
        const goalError = await goalSet;
        if (goalError !== undefined) throw goalError;
      }
      slowestUs = Math.max(slowestUs, nowUs() - startedUs);
      account(run, outcome);
      if (budget.fired() && !ctx.signal.aborted) {
        // The budget ran out mid-iteration: that iteration's frames are billed, its half-ranked
        // candidates are not used, and the best plan so far is the answer.
        run.stopped = PlanStop.TIME_BUDGET;
        break;
      }
      if (outcome.reason !== "completed") {
        run.failure = failureOf(outcome, ctx);
        return run;
      }
      run.last = outcome;
      const s = statsOf(planner.observe(outcome.costs), outcome);
      run.stats.push(s);
      try {
        await onIteration?.(s);
      } catch (err) {
        // The stream's send failed (most often the client cancelled between two events). The
        // iterations that ran are billed, and nothing more runs. Thrown out of runPlan instead, the
        // whole hold was voided: frames generated for free (seen once in CI, 0 charged).
        run.failure = ctx.signal.aborted ? cancelledByClient() : ServiceError.from(err);
        return run;
      }
    }
    if (run.stopped === PlanStop.COMPLETED && p.iterationsAllowed < spec.iterations) run.stopped = PlanStop.FRAME_CAP;
    return run;
  } finally {
    engine.releaseGoal?.([goalKey]);
  }
}

/**
 * The signal an iteration runs under: the caller's, and — for iterations after the first, when a time
 * budget is set — one that fires when the budget runs out, cancelling the iteration's engine requests.
 */
function budgetCut(caller: AbortSignal, remainingMs: number | undefined): { signal: AbortSignal; fired: () => boolean; clear: () => void } {
  if (remainingMs === undefined) return { signal: caller, fired: () => false, clear: () => undefined };
  const controller = new AbortController();
  let fired = false;
  const onCaller = (): void => controller.abort(caller.reason);
  caller.addEventListener("abort", onCaller, { once: true });
  const timer = setTimeout(() => {
    fired = true;
    controller.abort(new ServiceError("CANCELLED", "the plan's time budget ran out"));
  }, Math.max(0, remainingMs));
  return {
    signal: controller.signal,
    fired: () => fired,
    clear: () => {
      clearTimeout(timer);
      caller.removeEventListener("abort", onCaller);
    },
  };
}

function iterate(p: AdmittedPlan, ctx: CallContext, planner: Planner, goalKey: string, i: number): Promise<IterationOutcome> {
  const { spec, slot } = p;
  return runIteration({
    engine: p.engine,
    idPrefix: `${p.engineRequestId}/i${i}`,
    candidates: planner.propose(),
    actionSteps: spec.actionSteps,
    lanesPerRequestMax: slot.entry.batchLanesMax,
    startFrame: p.startFrame,
    numSteps: spec.params.numSteps,
    guidance: spec.params.guidance,
    seed: spec.params.seed,
    deadlineUs: p.deadlineUs,
    customerId: p.account.customerId,
    priority: spec.priority,
    score: { scorer: p.scorer, goalKey },
    aggregation: spec.cost.aggregation,
    pruning: spec.pruning,
    keepFrames: spec.output.bestRollout || spec.output.topK > 0,
    signal: ctx.signal,
  });
}

function account(run: PlanRun, o: IterationOutcome): void {
  run.predictedFrames += o.framesPerCandidate.reduce((a, b) => a + b, 0);
  run.conditioningFrames += o.framesPerCandidate.filter((n) => n > 0).length;
  run.engineUs += o.engineUs;
}

const cancelledByClient = (): ServiceError => new ServiceError("CANCELLED", "the client cancelled the plan");

function failureOf(o: IterationOutcome, ctx: CallContext): ServiceError {
  if (o.reason === "failed") return o.error ?? new ServiceError("ENGINE_FAILURE", "the engine failed; the pre-debit was refunded");
  if (o.reason === "deadline") return new ServiceError("DEADLINE_EXCEEDED", "the plan's deadline passed (deadline_ms is an error; budget.time_budget_ms returns the best plan so far)");
  return ctx.signal.aborted ? cancelledByClient() : (o.error ?? new ServiceError("CANCELLED", "the plan was cancelled"));
}

function statsOf(s: PlannerStats, o: IterationOutcome): IterationStats {
  const frames = o.framesPerCandidate.reduce((a, b) => a + b + (b > 0 ? 1 : 0), 0);
  return { iteration: s.iteration, bestCost: s.bestCost, meanCost: s.meanCost, eliteCost: s.eliteCost, candidates: o.costs.length, pruned: o.pruned, frames };
}
