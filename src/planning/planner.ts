// The planners' iteration loop, as pure state: `propose` gives the candidates of the next iteration,
// `observe` takes their costs and updates the sampling distribution. The service runs the rollouts
// and scoring between the two; nothing here knows about engines, time or money.
//
//   rank  one iteration over the caller's own candidates (best-of-N, e.g. policy proposals)
//   cem   sample K around (mean, std); refit to the E elites with momentum
//   mppi  sample K around mean with a fixed std; new mean = exp(-cost/λ)-weighted average
// The best candidate ever seen is kept across iterations: a later iteration that samples worse never
// makes the returned plan worse.
import type { ActionShape } from "./actions";
import { cemUpdate, type CemUpdate, type Gaussian } from "./cem";
import { mppiMean } from "./mppi";
import { rankByCost } from "./rank";
import { Pcg32 } from "./rng";
import { sampleCandidates, type SamplingSpec } from "./sampling";

export type PlannerConfig =
  | { kind: "rank"; candidates: readonly Float32Array[] }
  | { kind: "cem"; samples: number; iterations: number; init: Gaussian; update: CemUpdate }
  | { kind: "mppi"; samples: number; iterations: number; init: Gaussian; lambda: number };

export interface IterationStats {
  iteration: number;
  bestCost: number;
  meanCost: number;
  /** Mean cost of the elites (CEM) or of the best quarter (others): how tight the distribution is. */
  eliteCost: number;
}

export interface Best {
  sequence: Float32Array;
  cost: number;
  iteration: number;
  candidate: number;
}

export class Planner {
  private gaussian: Gaussian | undefined;
  private pending: Float32Array[] | undefined;
  private completed = 0;
  private bestSoFar: Best | undefined;
  readonly stats: IterationStats[] = [];

  constructor(
    private readonly config: PlannerConfig,
    private readonly sampling: SamplingSpec,
    private readonly seed: number,
  ) {
    if (config.kind !== "rank") this.gaussian = config.init;
  }

  get iterationsMax(): number {
    return this.config.kind === "rank" ? 1 : this.config.iterations;
  }

  get iterationsCompleted(): number {
    return this.completed;
  }

  get done(): boolean {
    return this.completed >= this.iterationsMax;
  }

  get best(): Best | undefined {
    return this.bestSoFar;
  }

  /** The candidates of the next iteration; call `observe` with their costs before proposing again. */
  propose(): readonly Float32Array[] {
    if (this.done) throw new Error("planner: no iterations left");
    if (this.pending !== undefined) return this.pending;
    const c = this.config;
    if (c.kind === "rank") this.pending = [...c.candidates];
    else {
      // One PCG stream per (iteration, candidate): the same seed gives the same plan, and candidate k of
      // iteration i does not depend on how many were drawn before it.
      const iteration = this.completed;
      this.pending = sampleCandidates(this.sampling, this.gaussian!.mean, this.gaussian!.std, c.samples, (k) => new Pcg32(this.seed, iteration * 65_536 + k));
    }
    return this.pending;
  }

  /** The proposed candidates' costs, in proposal order (NaN/Infinity for a candidate that failed). */
  observe(costs: ArrayLike<number>): IterationStats {
    const candidates = this.pending;
    if (candidates === undefined) throw new Error("planner: observe before propose");
    if (costs.length !== candidates.length) throw new Error(`planner: ${costs.length} costs for ${candidates.length} candidates`);
    const order = rankByCost(costs);
    const top = order[0]!;
    if (this.bestSoFar === undefined || costs[top]! < this.bestSoFar.cost) this.bestSoFar = { sequence: candidates[top]!, cost: costs[top]!, iteration: this.completed, candidate: top };
    const stats = iterationStats(this.completed, costs, order, this.eliteCount(candidates.length));
    this.update(candidates, costs);
    this.stats.push(stats);
    this.pending = undefined;
    this.completed++;
    return stats;
  }

  /** The distribution's mean: the warm start a control session carries to its next step. */
  get mean(): Float32Array | undefined {
    return this.gaussian?.mean;
  }

  private eliteCount(k: number): number {
    return this.config.kind === "cem" ? this.config.update.eliteCount : Math.max(1, Math.ceil(k / 4));
  }

  private update(candidates: readonly Float32Array[], costs: ArrayLike<number>): void {
    const c = this.config;
    const { mask, shape } = this.sampling;
    if (c.kind === "cem") this.gaussian = cemUpdate(this.gaussian!, candidates, costs, c.update, mask, shape.dim);
    else if (c.kind === "mppi") this.gaussian = { mean: mppiMean(this.gaussian!.mean, candidates, costs, c.lambda, mask, shape.dim), std: this.gaussian!.std };
  }
}

function iterationStats(iteration: number, costs: ArrayLike<number>, order: number[], eliteCount: number): IterationStats {
  const finite = order.map((i) => costs[i]!).filter(Number.isFinite);
  const mean = (xs: number[]): number => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);
  return { iteration, bestCost: finite[0] ?? NaN, meanCost: mean(finite), eliteCost: mean(finite.slice(0, eliteCount)) };
}

/** A Gaussian centred on `mean` (or zeros) with the same std everywhere: the usual cold start. */
export function initialGaussian(shape: ActionShape, std: number, mean?: Float32Array): Gaussian {
  const n = shape.steps * shape.dim;
  return { mean: mean ? Float32Array.from(mean) : new Float32Array(n), std: new Float32Array(n).fill(std) };
}
