// CEM, MPPI and rank on a synthetic world with a known optimum: the cost of a sequence is its squared
// distance to a hidden target in the masked dimensions. Pure code, fake nothing: the planners never
// see the target, only costs, exactly as they will from a scorer.
import assert from "node:assert/strict";
import { dimMask } from "../../src/planning/actions";
import { cemUpdate } from "../../src/planning/cem";
import { mppiWeights } from "../../src/planning/mppi";
import { initialGaussian, Planner, type PlannerConfig } from "../../src/planning/planner";
import { elites, rankByCost } from "../../src/planning/rank";
import { Pcg32 } from "../../src/planning/rng";
import type { SamplingSpec } from "../../src/planning/sampling";

const shape = { steps: 12, dim: 6 };
const n = shape.steps * shape.dim;
const mask = dimMask(shape.dim, [{ start: 0, end: 3 }]);
// A physically plausible target: piecewise constant over 3-step holds, as the sampler proposes.
const target = (() => {
  const r = new Pcg32(99);
  const out = new Float32Array(n);
  for (let t = 0; t < shape.steps; t++) for (let d = 0; d < 3; d++) out[t * shape.dim + d] = t % 3 === 0 ? 0.8 * r.normal() : out[(t - 1) * shape.dim + d]!;
  return out;
})();
const cost = (seq: Float32Array): number => seq.reduce((c, v, i) => c + (mask[i % shape.dim] ? (v - target[i]!) ** 2 : 0), 0);
const sampling: SamplingSpec = { shape, mask, nominal: new Float32Array(n), correlation: { kind: "hold", steps: 3 } };

function run(config: PlannerConfig, seed = 1): Planner {
  const p = new Planner(config, sampling, seed);
  while (!p.done) p.observe(p.propose().map(cost));
  return p;
}

describe("planning/planners", () => {
  const zeroCost = cost(new Float32Array(n));

  it("CEM brings the cost under 10% of the zero-action cost in 10 iterations, and never returns a worse plan than it saw", () => {
    const p = run({ kind: "cem", samples: 64, iterations: 10, init: initialGaussian(shape, 1), update: { eliteCount: 8, momentum: 0.1, stdMin: 0.02 } });
    assert.ok(p.best!.cost < 0.1 * zeroCost, `best ${p.best!.cost} vs zero-action ${zeroCost}`);
    const bests = p.stats.map((s) => s.bestCost);
    assert.equal(p.best!.cost, Math.min(...bests));
    assert.ok(p.stats[9]!.eliteCost < p.stats[0]!.eliteCost, "the elites did not improve");
    assert.equal(p.iterationsCompleted, 10);
  });

  it("CEM keeps unmasked dimensions at the nominal sequence in every candidate and the mean", () => {
    const p = new Planner({ kind: "cem", samples: 8, iterations: 2, init: initialGaussian(shape, 1), update: { eliteCount: 2, momentum: 0, stdMin: 0 } }, sampling, 3);
    for (let it = 0; it < 2; it++) {
      const cands = p.propose();
      for (const c of cands) for (let i = 0; i < n; i++) if (!mask[i % shape.dim]) assert.equal(c[i], 0);
      p.observe(cands.map(cost));
    }
    for (let i = 0; i < n; i++) if (!mask[i % shape.dim]) assert.equal(p.mean![i], 0);
  });

  it("MPPI's mean improves on its initial mean", () => {
    const p = run({ kind: "mppi", samples: 64, iterations: 8, init: initialGaussian(shape, 0.6), lambda: 1 });
    assert.ok(cost(p.mean!) < 0.5 * zeroCost, `mean cost ${cost(p.mean!)} vs initial ${zeroCost}`);
  });

  it("the same seed gives the same plan; another seed another", () => {
    const config = (): PlannerConfig => ({ kind: "cem", samples: 16, iterations: 3, init: initialGaussian(shape, 1), update: { eliteCount: 4, momentum: 0.1, stdMin: 0.05 } });
    assert.deepEqual([...run(config(), 5).best!.sequence], [...run(config(), 5).best!.sequence]);
    assert.notDeepEqual([...run(config(), 5).best!.sequence], [...run(config(), 6).best!.sequence]);
  });

  it("rank puts the true sequence first among K = 8 decoys, in one iteration", () => {
    const r = new Pcg32(11);
    const decoys = Array.from({ length: 7 }, () => target.map((v, i) => (mask[i % shape.dim] ? v + 0.5 * r.normal() : 0)));
    const candidates = [...decoys.slice(0, 4), target, ...decoys.slice(4)];
    const p = run({ kind: "rank", candidates });
    assert.equal(p.best!.candidate, 4);
    assert.equal(p.best!.cost, 0);
    assert.equal(p.iterationsCompleted, 1);
    assert.equal(p.done, true);
    assert.throws(() => p.propose(), /no iterations left/);
  });

  it("a warm-started plan reaches a lower cost than a cold one at equal iterations", () => {
    const update = { eliteCount: 4, momentum: 0.1, stdMin: 0.02 };
    const cold = run({ kind: "cem", samples: 16, iterations: 2, init: initialGaussian(shape, 1), update }, 8);
    const first = run({ kind: "cem", samples: 16, iterations: 4, init: initialGaussian(shape, 1), update }, 7);
    const warm = run({ kind: "cem", samples: 16, iterations: 2, init: initialGaussian(shape, 0.3, first.mean), update }, 8);
    assert.ok(warm.best!.cost < cold.best!.cost, `warm ${warm.best!.cost} vs cold ${cold.best!.cost}`);
  });

  it("observe checks its input against what was proposed", () => {
    const p = new Planner({ kind: "mppi", samples: 4, iterations: 1, init: initialGaussian(shape, 1), lambda: 1 }, sampling, 1);
    assert.throws(() => p.observe([1, 2, 3, 4]), /observe before propose/);
    p.propose();
    assert.throws(() => p.observe([1, 2]), /2 costs for 4 candidates/);
  });
});

describe("planning/rank, cem, mppi: the updates themselves", () => {
  it("ranks by cost, ties by submission order, NaN last", () => {
    assert.deepEqual(rankByCost([3, 1, NaN, 1, 0]), [4, 1, 3, 0, 2]);
    assert.deepEqual(elites([5, 4, 3, 2], 2), [3, 2]);
  });

  it("CEM refits to the elites exactly with momentum 0, and floors the deviation", () => {
    const m = dimMask(1, []);
    const prev = { mean: Float32Array.of(0, 0), std: Float32Array.of(1, 1) };
    const cands = [Float32Array.of(1, 2), Float32Array.of(3, 4), Float32Array.of(100, 100)];
    const g = cemUpdate(prev, cands, [0, 1, 9], { eliteCount: 2, momentum: 0, stdMin: 0 }, m, 1);
    assert.deepEqual([...g.mean], [2, 3]);
    assert.deepEqual([...g.std], [1, 1]);
    const half = cemUpdate(prev, cands, [0, 1, 9], { eliteCount: 2, momentum: 0.5, stdMin: 0 }, m, 1);
    assert.deepEqual([...half.mean], [1, 1.5]);
    const floored = cemUpdate(prev, [Float32Array.of(1, 1), Float32Array.of(1, 1)], [0, 0], { eliteCount: 2, momentum: 0, stdMin: 0.25 }, m, 1);
    assert.deepEqual([...floored.std], [0.25, 0.25]);
  });

  it("MPPI weights: the best is heaviest, they sum to 1, huge costs do not underflow all of them, all-failed is uniform", () => {
    const w = mppiWeights([1e9 + 1, 1e9, 1e9 + 5], 1);
    assert.ok(w[1]! > w[0]! && w[0]! > w[2]!);
    assert.ok(Math.abs(w.reduce((a, b) => a + b, 0) - 1) < 1e-12);
    assert.deepEqual([...mppiWeights([Infinity, Infinity], 1)], [0.5, 0.5]);
    assert.ok(mppiWeights([0, 1], 0.01)[0]! > 0.999, "a small lambda approaches argmin");
  });
});
