// Planning.Plan and StreamPlan: admit (402 before any engine work) → iterate on the engine with
// scoring next to the model → settle (post the frames generated; void on an engine failure) → the
// decision. A decision is kilobytes: the best sequence, the costs, per-iteration stats, the summary,
// and only the rollouts the caller asked for.
import { ServiceError } from "../../core/errors";
import { microsToUsdString } from "../../core/money";
import type { RequestSummary } from "../../gen/dream/v1/dream";
import type { IterationStats, PlanEvent, PlanRequest, PlanResponse } from "../../gen/dream/v1/planning";
import type { Logger } from "../../observability/logger";
import type { StatusRecorder } from "../../observability/status";
import type { CallContext } from "../context";
import type { Account } from "../ports";
import { summaryHeaders, withCharge } from "../predict-flow";
import { admitPlan, type AdmittedPlan, type PlanAdmitDeps } from "./admit-plan";
import { planResponse } from "./response";
import { runPlan, type PlanRun } from "./run-plan";

export interface PlanDeps extends PlanAdmitDeps {
  status: StatusRecorder;
  logger: Logger;
}

export async function plan(deps: PlanDeps, req: PlanRequest, ctx: CallContext, account: Account, onIteration?: (s: IterationStats) => Promise<void>): Promise<PlanResponse> {
  return (await planDecision(deps, req, ctx, account, onIteration)).response;
}

/** A plan and the planner's final mean (cem, mppi): the warm start a control session's next step shifts. */
export interface PlanDecision {
  response: PlanResponse;
  mean: Float32Array | undefined;
}

export async function planDecision(deps: PlanDeps, req: PlanRequest, ctx: CallContext, account: Account, onIteration?: (s: IterationStats) => Promise<void>): Promise<PlanDecision> {
  const p = await admitPlan(deps, req, ctx, account);
  // The iterations start while the hold's record is written; a record the ledger refuses stops them.
  const stop = new AbortController();
  const onCaller = (): void => stop.abort(ctx.signal.reason);
  if (ctx.signal.aborted) onCaller();
  else ctx.signal.addEventListener("abort", onCaller, { once: true });
  p.record.whenKnown(() => {
    if (p.record.isRefused()) stop.abort(p.record.refusal);
  });
  // No event leaves before the record is in the ledger.
  const gated =
    onIteration &&
    (async (s: IterationStats): Promise<void> => {
      await p.record.known;
      if (!p.record.isRefused()) await onIteration(s);
    });
  let run: PlanRun;
  try {
    run = await runPlan(p, { ...ctx, signal: stop.signal }, () => deps.clock.nowUs(), gated);
  } catch (err) {
    await p.record.known;
    if (p.record.isRefused()) return refused(deps, p);
    // Nothing was settled: give the whole hold back (a failure before or between iterations is ours).
    await settle(deps, p, undefined, 0);
    throw err;
  } finally {
    ctx.signal.removeEventListener("abort", onCaller);
  }
  await p.record.known;
  if (p.record.isRefused()) return refused(deps, p);
  const summary = await settle(deps, p, run, run.predictedFrames + run.conditioningFrames);
  summaryHeaders(ctx, summary);
  if (run.failure !== undefined) {
    if (run.failure.reason === "ENGINE_FAILURE") throw run.failure;
    throw withCharge(run.failure, summary.frames, summary.cost?.micros ?? 0);
  }
  return { response: await planResponse(deps.codecs, p, run, summary), mean: run.planner.mean };
}

/** StreamPlan: one event per finished iteration, then the plan. */
export async function streamPlan(deps: PlanDeps, req: PlanRequest, ctx: CallContext, account: Account, send: (e: PlanEvent) => Promise<void>): Promise<void> {
  const final = await plan(deps, req, ctx, account, (s) => send({ event: { $case: "iteration", value: s } }));
  await send({ event: { $case: "plan", value: final } });
}

/** The ledger refused the hold's record: nothing was sent or held, so nothing settles. */
function refused(deps: PlanDeps, p: AdmittedPlan): never {
  deps.inflight.remove(p.requestId, p.account.customerId);
  deps.logger.warn({ requestId: p.requestId, err: String(p.record.refusal) }, "the ledger refused the plan's hold record; the plan was stopped unsent");
  throw ServiceError.from(p.record.refusal);
}

/**
 * Posts the generated frames (at most the hold) or, after an engine failure or with nothing run,
 * voids the hold; records the plan in /v1/status either way. Settlement failures are left to the
 * billing sweeper, never failing a finished plan.
 */
async function settle(deps: PlanDeps, p: AdmittedPlan, run: PlanRun | undefined, frames: number): Promise<RequestSummary> {
  const entry = p.slot.entry;
  deps.inflight.remove(p.requestId, p.account.customerId);
  const failed = run === undefined || run.failure?.reason === "ENGINE_FAILURE";
  const costMicros = failed ? 0 : Math.min(deps.chargeMicros(frames, entry.pricePerFrameMicros), p.priceMicros);
  try {
    if (failed || frames === 0) await deps.billing.void(p.account, p.requestId);
    else await deps.billing.post(p.account, p.requestId, costMicros);
  } catch (err) {
    // The hold stays recorded and is reconciled by the billing sweeper; never fail a finished plan.
    deps.logger.error({ requestId: p.requestId, err: String(err) }, "plan settlement failed; hold left for reconciliation");
  }
  const latencyMs = (deps.clock.nowUs() - p.startedUs) / 1000;
  deps.status.record(entry.slug, { latencyMs, error: run === undefined || run.failure !== undefined, batchLanes: p.spec.samples });
  return {
    requestId: p.requestId,
    model: entry.slug,
    frames,
    cost: { micros: costMicros, usd: microsToUsdString(costMicros) },
    engineWallMs: Math.round((run?.engineUs ?? 0) / 1000),
    queueMs: 0,
    numSteps: p.spec.params.numSteps,
    seed: Number(p.spec.params.seed),
    fps: entry.fps,
    batchSize: p.spec.samples,
  };
}

