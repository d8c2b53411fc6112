// Planning.Plan validation: every bad parameter is INVALID_ARGUMENT naming the field, before any
// billing or engine work (validatePlan is pure; the e2e plan tests check the balance stays untouched).
import assert from "node:assert/strict";
import path from "node:path";
import { loadCatalog } from "../../src/config/load-catalog";
import { ServiceError } from "../../src/core/errors";
import { FrameEncoding, Priority, type Actions } from "../../src/gen/dream/v1/dream";
import { CostAggregation, type PlanRequest } from "../../src/gen/dream/v1/planning";
import { validatePlan } from "../../src/service/plan/validate-plan";

const entry = loadCatalog(path.join(__dirname, "..", "..", "gpu", "catalog.json")).models.find((m) => m.slug === "dream-reference-tiny")!;
const [H, W] = entry.resolution;
const D = entry.actionDim;
const frame = { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(H * W * 3), height: H, width: W };
const actions = (t: number, fill = 0): Actions => ({ data: new Uint8Array(new Float32Array(t * D).fill(fill).buffer), shape: [t, D] });

function cem(over: Partial<PlanRequest> = {}): PlanRequest {
  return {
    model: entry.slug,
    startFrame: frame,
    actionSteps: 12,
    cost: { scorer: "", goal: frame, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] },
    planner: { $case: "cem", value: { samples: 8, iterations: 3, elites: 2, momentum: 0.1, stdMin: 0.01 } },
    sampling: undefined,
    pruning: undefined,
    budget: undefined,
    params: undefined,
    output: undefined,
    deadlineMs: 0,
    requestId: "",
    priority: Priority.PRIORITY_UNSPECIFIED,
    ...over,
  };
}

function rejects(req: PlanRequest, field: string): void {
  assert.throws(
    () => validatePlan(req, entry),
    (e: unknown) => e instanceof ServiceError && e.reason === "INVALID_ARGUMENT" && e.details.field === field,
    `expected INVALID_ARGUMENT naming ${field}`,
  );
}

describe("service/plan: validatePlan", () => {
  it("accepts a CEM request and fills defaults: final-frame cost, JPEG rollouts off, seed 0, no pruning or budget", () => {
    const spec = validatePlan(cem(), entry);
    assert.equal(spec.planner.kind, "cem");
    assert.deepEqual([spec.samples, spec.iterations, spec.actionSteps], [8, 3, 12]);
    assert.deepEqual(spec.cost.aggregation, { kind: "final" });
    assert.equal(spec.pruning, undefined);
    assert.deepEqual(spec.budget, { timeBudgetMs: undefined, framesMax: undefined, costMaxMicros: undefined });
    assert.deepEqual([spec.output.bestRollout, spec.output.topK, spec.output.encoding.encoding], [false, 0, "JPEG"]);
    assert.equal(spec.seed, 0);
  });

  it("priority: unset is interactive, BATCH is batch (offline planning), anything else names the field", () => {
    assert.equal(validatePlan(cem(), entry).priority, "interactive");
    assert.equal(validatePlan(cem({ priority: Priority.BATCH }), entry).priority, "batch");
    rejects(cem({ priority: 7 as Priority }), "priority");
  });

  it("a rank request takes K and T from its candidates, one iteration", () => {
    const spec = validatePlan(cem({ planner: { $case: "rank", value: { candidates: [actions(24), actions(24, 0.5)] } }, actionSteps: 0 }), entry);
    assert.deepEqual([spec.planner.kind, spec.samples, spec.iterations, spec.actionSteps], ["rank", 2, 1, 24]);
  });

  it("masks, bounds and correlation become the sampling space", () => {
    const low = new Array(D).fill(-1);
    const high = new Array(D).fill(1);
    const spec = validatePlan(cem({ sampling: { mask: [{ start: 0, end: 29 }], nominal: undefined, warmStart: undefined, initStd: 0.2, low, high, holdSteps: 3, smoothing: 0 } }), entry);
    assert.equal(spec.sampling.mask.reduce((a, b) => a + b, 0), 29);
    assert.deepEqual(spec.sampling.correlation, { kind: "hold", steps: 3 });
    assert.equal(spec.sampling.bounds!.low.length, D);
  });

  const bad: [string, Partial<PlanRequest>][] = [
    ["planner", { planner: undefined }],
    ["cem.samples", { planner: { $case: "cem", value: { samples: 100_000, iterations: 3, elites: 2, momentum: 0, stdMin: 0 } } }],
    ["cem.iterations", { planner: { $case: "cem", value: { samples: 8, iterations: 0, elites: 2, momentum: 0, stdMin: 0 } } }],
    ["cem.elites", { planner: { $case: "cem", value: { samples: 8, iterations: 3, elites: 9, momentum: 0, stdMin: 0 } } }],
    ["cem.momentum", { planner: { $case: "cem", value: { samples: 8, iterations: 3, elites: 2, momentum: 1, stdMin: 0 } } }],
    ["mppi.lambda", { planner: { $case: "mppi", value: { samples: 8, iterations: 3, lambda: 0 } } }],
    ["rank.candidates", { planner: { $case: "rank", value: { candidates: [] } } }],
    ["rank.candidates[1]", { planner: { $case: "rank", value: { candidates: [actions(12), actions(24)] } } }],
    ["rank.candidates[0]", { planner: { $case: "rank", value: { candidates: [{ data: new Uint8Array(8), shape: [1, 2] }] } } }],
    ["action_steps", { actionSteps: 0 }],
    ["sampling.mask[0]", { sampling: { mask: [{ start: 10, end: 500 }], nominal: undefined, warmStart: undefined, initStd: 0, low: [], high: [], holdSteps: 0, smoothing: 0 } }],
    ["sampling.low", { sampling: { mask: [], nominal: undefined, warmStart: undefined, initStd: 0, low: [0], high: [1], holdSteps: 0, smoothing: 0 } }],
    ["sampling.smoothing", { sampling: { mask: [], nominal: undefined, warmStart: undefined, initStd: 0, low: [], high: [], holdSteps: 0, smoothing: 1 } }],
    ["sampling.init_std", { sampling: { mask: [], nominal: undefined, warmStart: undefined, initStd: -1, low: [], high: [], holdSteps: 0, smoothing: 0 } }],
    ["sampling.warm_start", { sampling: { mask: [], nominal: undefined, warmStart: actions(24), initStd: 0, low: [], high: [], holdSteps: 0, smoothing: 0 } }],
    ["cost.goal", { cost: { scorer: "", goal: undefined, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] } }],
    ["cost.gamma", { cost: { scorer: "", goal: frame, aggregation: CostAggregation.DISCOUNTED, gamma: 1.5, goalFrames: [] } }],
    ["cost.aggregation", { cost: { scorer: "", goal: frame, aggregation: 42 as CostAggregation, gamma: 0, goalFrames: [] } }],
    ["cost.scorer", { cost: { scorer: "x".repeat(65), goal: frame, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] } }],
    ["cost.goal_frames", { cost: { scorer: "", goal: frame, aggregation: CostAggregation.MEAN, gamma: 0, goalFrames: [frame] } }],
    ["cost.goal_frames", { cost: { scorer: "", goal: undefined, aggregation: CostAggregation.MEAN, gamma: 0, goalFrames: new Array(241).fill(frame) } }],
    ["pruning.drop_fraction", { pruning: { dropFraction: 1, keepMin: 1 } }],
    ["pruning.keep_min", { pruning: { dropFraction: 0.5, keepMin: 9 } }],
    ["budget.time_budget_ms", { budget: { timeBudgetMs: 10 * 60 * 1000 + 1, framesMax: 0, costMaxMicros: 0 } }],
    ["output.top_k", { output: { bestRollout: false, topK: 9, encoding: undefined } }],
    ["output.encoding", { output: { bestRollout: true, topK: 0, encoding: { encoding: FrameEncoding.MP4, jpegQuality: 0 } } }],
    ["params.num_steps", { params: { numSteps: 1000, guidance: undefined, seed: 0 } }],
  ];
  for (const [field, over] of bad) {
    it(`rejects a bad ${field}, naming it`, () => rejects(cem(over), field));
  }
});
