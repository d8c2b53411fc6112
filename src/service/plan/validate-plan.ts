// Planning.Plan request validation: pure, before any billing or engine work, and every error names the
// field (`cem.elites`, `sampling.mask[1]`, `cost.goal`), the expected and the given.
import type { CatalogEntry } from "../../config/catalog";
import { invalidArgument } from "../../core/errors";
import { limits } from "../../core/limits";
import { FrameEncoding, type Frame } from "../../gen/dream/v1/dream";
import { CostAggregation, type CostSpec, type PlanBudget, type PlanOutput, type PlanRequest, type Pruning } from "../../gen/dream/v1/planning";
import type { Aggregation } from "../../planning/aggregate";
import type { Halving } from "../../planning/halving";
import type { PlannerConfig } from "../../planning/planner";
import type { SamplingSpec } from "../../planning/sampling";
import { validateDeadlineMs, validateOutput, validateParams, validatePriority, type ValidatedOutput, type ValidatedParams } from "../validate";
import { validatePlanner, validateSampling } from "./validate-planner";

export interface PlanSpec {
  planner: PlannerConfig;
  sampling: SamplingSpec;
  actionSteps: number;
  /** Candidates per iteration (K). */
  samples: number;
  /** Iterations asked for (1 for rank); a budget cap may allow fewer. */
  iterations: number;
  /** `goals`: one frame (every predicted frame's goal) or a trajectory (goal of predicted frame t = goals[min(t-1, n-1)]). */
  cost: { scorer: string; goals: Frame[]; goalField: (i: number) => string; aggregation: Aggregation };
  pruning: Halving | undefined;
  budget: { timeBudgetMs: number | undefined; framesMax: number | undefined; costMaxMicros: number | undefined };
  params: ValidatedParams;
  output: { bestRollout: boolean; topK: number; encoding: ValidatedOutput };
  deadlineMs: number | undefined;
  priority: "interactive" | "batch";
  seed: number;
}

export function validatePlan(req: PlanRequest, entry: CatalogEntry): PlanSpec {
  const params = validateParams(req.params, entry);
  const planned = validatePlanner(req, entry);
  const actionSteps = planned.actionSteps;
  const sampling = validateSampling(req.sampling, entry, actionSteps);
  const planner = planned.build(sampling, req.sampling?.initStd || 0.5);
  return {
    planner,
    sampling,
    actionSteps,
    samples: planned.samples,
    iterations: planned.iterations,
    cost: validateCost(req.cost, entry),
    pruning: validatePruning(req.pruning, planned.samples),
    budget: validateBudget(req.budget),
    params,
    output: validatePlanOutput(req.output, planned.samples),
    deadlineMs: validateDeadlineMs(req.deadlineMs),
    priority: validatePriority(req.priority, "interactive"),
    // The planner's sampling seed: the low 32 bits of the request's seed (same request, same plan).
    seed: Number(params.seed & 0xffffffffn),
  };
}

function validateCost(cost: CostSpec | undefined, entry: CatalogEntry): PlanSpec["cost"] {
  const [h, w] = entry.resolution;
  if (Buffer.byteLength(cost?.scorer ?? "") > limits.scorerNameBytesMax) throw invalidArgument("cost.scorer", `at most ${limits.scorerNameBytesMax} bytes`);
  const trajectory = cost?.goalFrames ?? [];
  if (trajectory.length > 0) {
    if (cost!.goal !== undefined && cost!.goal.data.byteLength > 0) throw invalidArgument("cost.goal_frames", "give goal (one frame) or goal_frames (a trajectory), not both");
    if (trajectory.length > limits.goalFramesMax) throw invalidArgument("cost.goal_frames", `at most ${limits.goalFramesMax} frames, got ${trajectory.length}`);
    return { scorer: cost!.scorer, goals: trajectory, goalField: (i) => `cost.goal_frames[${i}]`, aggregation: aggregationOf(cost!) };
  }
  if (!cost?.goal || cost.goal.data.byteLength === 0) throw invalidArgument("cost.goal", `required: the goal frame, a ${h}x${w} (HxW) PNG, JPEG or RAW_RGB8 frame (or goal_frames, a trajectory)`);
  return { scorer: cost.scorer, goals: [cost.goal], goalField: () => "cost.goal", aggregation: aggregationOf(cost) };
}

function aggregationOf(cost: CostSpec): Aggregation {
  switch (cost.aggregation) {
    case CostAggregation.COST_AGGREGATION_UNSPECIFIED:
    case CostAggregation.FINAL:
      return { kind: "final" };
    case CostAggregation.MEAN:
      return { kind: "mean" };
    case CostAggregation.DISCOUNTED:
      if (!(cost.gamma > 0 && cost.gamma <= 1)) throw invalidArgument("cost.gamma", `DISCOUNTED needs gamma in (0, 1], got ${cost.gamma}`);
      return { kind: "discounted", gamma: cost.gamma };
    default:
      throw invalidArgument("cost.aggregation", `unknown aggregation ${cost.aggregation}; expected FINAL, MEAN or DISCOUNTED`);
  }
}

function validatePruning(p: Pruning | undefined, samples: number): Halving | undefined {
  if (p === undefined || (p.dropFraction === 0 && p.keepMin === 0)) return undefined;
  if (!(p.dropFraction > 0 && p.dropFraction < 1)) throw invalidArgument("pruning.drop_fraction", `expected a fraction in (0, 1), got ${p.dropFraction}`);
  const keepMin = p.keepMin === 0 ? 1 : p.keepMin;
  if (keepMin > samples) throw invalidArgument("pruning.keep_min", `expected 1..${samples} (the candidates per iteration), got ${keepMin}`);
  return { dropFraction: p.dropFraction, keepMin };
}

function validateBudget(b: PlanBudget | undefined): PlanSpec["budget"] {
  const timeBudgetMs = b?.timeBudgetMs || undefined;
  if (timeBudgetMs !== undefined && timeBudgetMs > limits.planTimeBudgetMsMax) throw invalidArgument("budget.time_budget_ms", `expected 1..${limits.planTimeBudgetMsMax}, got ${timeBudgetMs}`);
  const costMaxMicros = b?.costMaxMicros || undefined;
  if (costMaxMicros !== undefined && costMaxMicros < 0) throw invalidArgument("budget.cost_max_micros", `expected a positive amount, got ${costMaxMicros}`);
  return { timeBudgetMs, framesMax: b?.framesMax || undefined, costMaxMicros };
}

function validatePlanOutput(o: PlanOutput | undefined, samples: number): PlanSpec["output"] {
  const topK = o?.topK ?? 0;
  if (topK > samples) throw invalidArgument("output.top_k", `expected 0..${samples} (the candidates per iteration), got ${topK}`);
  const encoding = validateOutput(o?.encoding ?? { encoding: FrameEncoding.JPEG, jpegQuality: 0 });
  if (encoding.encoding === "MP4" && (o?.bestRollout || topK > 0)) {
    // Rollouts of a plan are assembled from the scored chunks; MP4 would need an encoder per lane.
    throw invalidArgument("output.encoding", "plan rollouts come as RAW_RGB8, PNG or JPEG frames, not MP4");
  }
  return { bestRollout: o?.bestRollout ?? false, topK, encoding };
}
