// The planner choice and its sampling space, validated: K, I, E, momentum, λ, masks, bounds, noise
// correlation, nominal and warm-start sequences. Errors name the field as the request spells it.
import type { CatalogEntry } from "../../config/catalog";
import { invalidArgument } from "../../core/errors";
import { limits } from "../../core/limits";
import type { PlanRequest, SamplingSpec as SamplingMessage } from "../../gen/dream/v1/planning";
import { dimMask, type DimBounds } from "../../planning/actions";
import { initialGaussian, type PlannerConfig } from "../../planning/planner";
import type { Correlation, SamplingSpec } from "../../planning/sampling";
import { validateActions } from "../validate";

/** The sampling space with the initial mean (the warm start, or the nominal sequence). */
export type PlanSampling = SamplingSpec & { warmStart: Float32Array };

export interface PlannerChoice {
  actionSteps: number;
  samples: number;
  iterations: number;
  build(sampling: PlanSampling, initStd: number): PlannerConfig;
}

/** The rank planner's candidates, each checked like a PredictBatch candidate. */
function rankCandidates(req: PlanRequest, entry: CatalogEntry): Float32Array[] {
  if (req.planner?.$case !== "rank") return [];
  return req.planner.value.candidates.map((c, i) => validateActions(`rank.candidates[${i}]`, c, entry));
}

export function validatePlanner(req: PlanRequest, entry: CatalogEntry): PlannerChoice {
  const p = req.planner;
  if (p === undefined) throw invalidArgument("planner", "required: one of rank, cem or mppi");
  if (p.$case === "rank") {
    const candidates = rankCandidates(req, entry);
    if (candidates.length < 1 || candidates.length > limits.planSamplesMax) throw invalidArgument("rank.candidates", `expected 1..${limits.planSamplesMax} action sequences, got ${candidates.length}`);
    const actionSteps = candidates[0]!.length / entry.actionDim;
    candidates.forEach((c, i) => {
      if (c.length !== candidates[0]!.length) throw invalidArgument(`rank.candidates[${i}]`, `every candidate needs the same T: candidate 0 has ${actionSteps}, this one ${c.length / entry.actionDim}`);
    });
    return { actionSteps, samples: candidates.length, iterations: 1, build: () => ({ kind: "rank", candidates }) };
  }
  const actionSteps = validateSteps(req.actionSteps);
  const { samples, iterations } = p.value;
  const prefix = p.$case;
  inRange(`${prefix}.samples`, samples, 2, limits.planSamplesMax);
  inRange(`${prefix}.iterations`, iterations, 1, limits.planIterationsMax);
  if (p.$case === "cem") {
    const { elites, momentum, stdMin } = p.value;
    inRange("cem.elites", elites, 1, samples);
    if (!(momentum >= 0 && momentum < 1)) throw invalidArgument("cem.momentum", `expected [0, 1), got ${momentum}`);
    if (!(stdMin >= 0 && Number.isFinite(stdMin))) throw invalidArgument("cem.std_min", `expected >= 0, got ${stdMin}`);
    return { actionSteps, samples, iterations, build: (s, std) => ({ kind: "cem", samples, iterations, init: initialGaussian(s.shape, validStd(std), s.warmStart), update: { eliteCount: elites, momentum, stdMin } }) };
  }
  const { lambda } = p.value;
  if (!(lambda > 0 && Number.isFinite(lambda))) throw invalidArgument("mppi.lambda", `expected a temperature > 0, got ${lambda}`);
  return { actionSteps, samples, iterations, build: (s, std) => ({ kind: "mppi", samples, iterations, init: initialGaussian(s.shape, validStd(std), s.warmStart), lambda }) };
}

function validateSteps(steps: number): number {
  inRange("action_steps", steps, 1, limits.actionStepsMax);
  return steps;
}

function inRange(field: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw invalidArgument(field, `expected an integer in ${min}..${max}, got ${value}`, { expected: `${min}..${max}`, given: value });
}

function validStd(std: number): number {
  if (!(std > 0 && Number.isFinite(std))) throw invalidArgument("sampling.init_std", `expected > 0, got ${std}`);
  return std;
}

/** The sampling space; `warmStart` is the initial mean (nominal when not given). */
export function validateSampling(s: SamplingMessage | undefined, entry: CatalogEntry, actionSteps: number): PlanSampling {
  const dim = entry.actionDim;
  const shape = { steps: actionSteps, dim };
  (s?.mask ?? []).forEach((r, i) => {
    if (!(r.start < r.end && r.end <= dim)) throw invalidArgument(`sampling.mask[${i}]`, `expected start < end <= ${dim} (the action dims), got [${r.start}, ${r.end})`);
  });
  const nominal = s?.nominal ? sequenceOf("sampling.nominal", s.nominal, entry, actionSteps) : new Float32Array(actionSteps * dim);
  const warmStart = s?.warmStart ? sequenceOf("sampling.warm_start", s.warmStart, entry, actionSteps) : nominal;
  return { shape, mask: dimMask(dim, s?.mask ?? []), nominal, warmStart, correlation: correlationOf(s), bounds: boundsOf(s, dim) };
}

function sequenceOf(field: string, a: NonNullable<SamplingMessage["nominal"]>, entry: CatalogEntry, actionSteps: number): Float32Array {
  const values = validateActions(field, a, entry);
  if (values.length !== actionSteps * entry.actionDim) throw invalidArgument(field, `expected T = ${actionSteps} steps (action_steps), got ${values.length / entry.actionDim}`);
  return values;
}

function correlationOf(s: SamplingMessage | undefined): Correlation {
  const hold = s?.holdSteps ?? 0;
  const alpha = s?.smoothing ?? 0;
  if (hold > 1 && alpha > 0) throw invalidArgument("sampling.smoothing", "choose hold_steps or smoothing, not both");
  if (hold > limits.actionStepsMax) throw invalidArgument("sampling.hold_steps", `expected 0..${limits.actionStepsMax}, got ${hold}`);
  if (!(alpha >= 0 && alpha < 1)) throw invalidArgument("sampling.smoothing", `expected [0, 1), got ${alpha}`);
  if (hold > 1) return { kind: "hold", steps: hold };
  return alpha > 0 ? { kind: "smooth", alpha } : { kind: "none" };
}

function boundsOf(s: SamplingMessage | undefined, dim: number): DimBounds | undefined {
  const low = s?.low ?? [];
  const high = s?.high ?? [];
  if (low.length === 0 && high.length === 0) return undefined;
  if (low.length !== dim) throw invalidArgument("sampling.low", `expected ${dim} values (one per action dim), got ${low.length}`);
  if (high.length !== dim) throw invalidArgument("sampling.high", `expected ${dim} values (one per action dim), got ${high.length}`);
  for (let d = 0; d < dim; d++) {
    if (!(low[d]! <= high[d]!)) throw invalidArgument(`sampling.low[${d}]`, `expected low <= high, got ${low[d]} > ${high[d]}`);
  }
  return { low: Float32Array.from(low), high: Float32Array.from(high) };
}
