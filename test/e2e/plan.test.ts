// Planning next to the model, end to end over gRPC on the tiny reference model: the goal is the frame a
// hidden action sequence reaches; rank finds it among decoys, CEM and MPPI approach it, pruning keeps
// the best while billing exactly the frames generated, an anytime budget returns early with OK, and
// bad parameters are refused uncharged. Scoring runs in the model's worker (pixel L2 by default).
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { ServiceError } from "../../src/core/errors";
import type { CallContext, StreamHandler } from "../../src/service/context";
import { packActions } from "../../clients/typescript/src";
import { FrameEncoding, Priority } from "../../src/gen/dream/v1/dream";
import { CostAggregation, PlanningClient, PlanStop, type PlanEvent, type PlanRequest, type PlanResponse } from "../../src/gen/dream/v1/planning";
import { Pcg32 } from "../../src/planning/rng";
import { errorInfoOf } from "../../src/wire/status-details";
import { heldSequence as heldSequenceOf } from "./plan-world";
import { bearer, startHarness, testFrame, until, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const [H, W, D, T] = [48, 64, 384, 12];
const MASK = { start: 0, end: 29 }; // GR-1's slot of the unified action vector

const heldSequence = (seed: number, scale: number): Float32Array => heldSequenceOf(T, D, seed, scale);

const perturbed = (base: Float32Array, seed: number, scale: number): Float32Array => {
  const r = new Pcg32(seed);
  return base.map((v, i) => (i % D < MASK.end ? v + scale * r.normal() : 0));
};

describe("e2e: planning (Planning.Plan over gRPC, tiny model)", function () {
  this.timeout(300_000);
  let h: Harness;
  let planning: PlanningClient;
  const start = testFrame(H, W);
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: start, height: H, width: W };
  const hidden = heldSequence(7, 0.8);
  let goalFrame: Uint8Array;

  const md = (key = h.apiKey): grpc.Metadata => bearer(key);
  const call = (req: Partial<PlanRequest>, key?: string): Promise<PlanResponse> =>
    new Promise((resolve, reject) => planning.plan(planRequest(req), md(key), (err, res) => (err ? reject(err) : resolve(res))));
  const planRequest = (req: Partial<PlanRequest>): PlanRequest => ({
    model: TINY,
    startFrame,
    actionSteps: T,
    cost: { scorer: "", goal: { encoding: FrameEncoding.RAW_RGB8, data: goalFrame, height: H, width: W }, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] },
    planner: undefined,
    sampling: { mask: [MASK], nominal: undefined, warmStart: undefined, initStd: 0.8, low: [], high: [], holdSteps: T, smoothing: 0 },
    pruning: undefined,
    budget: undefined,
    params: { numSteps: 1, guidance: undefined, seed: 3 },
    output: undefined,
    deadlineMs: 0,
    requestId: "",
    priority: Priority.PRIORITY_UNSPECIFIED,
    ...req,
  });
  const rank = (candidates: Float32Array[], over: Partial<PlanRequest> = {}) => call({ planner: { $case: "rank", value: { candidates: candidates.map((c) => packActions(c, T, D)) } }, ...over });
  const zeroCost = async (): Promise<number> => (await rank([new Float32Array(T * D)])).bestCost;

  before(async () => {
    h = await startHarness();
    planning = new PlanningClient(h.grpcAddress, grpc.credentials.createInsecure());
    const { response } = await h.client.predictBatch({ model: TINY, startFrame, candidates: [packActions(hidden, T, D)], params: { numSteps: 1, seed: 3 } });
    goalFrame = response.rollouts[0]!.frames[T]! as Uint8Array;
  });
  after(async () => {
    planning?.close();
    await h?.stop();
  });

  it("rank puts the hidden true sequence first among K = 8 decoys, and says what it cost", async () => {
    const decoys = [1, 2, 3, 4, 5, 6, 7].map((s) => perturbed(hidden, 100 + s, 0.6));
    const candidates = [...decoys.slice(0, 3), hidden, ...decoys.slice(3)];
    const res = await rank(candidates);
    assert.equal(res.ranking[0], 3);
    assert.equal(res.bestCost, 0, "the hidden sequence reproduces the goal frame exactly (same seed)");
    assert.equal(res.candidateCosts.length, 8);
    assert.ok(res.candidateCosts.every((c, i) => i === 3 || c > 0));
    assert.deepEqual([...new Float32Array(new Uint8Array(res.bestActions!.data).buffer)], [...hidden]);
    assert.equal(res.summary!.frames, 8 * (T + 1));
    assert.equal(res.summary!.cost!.micros, 8 * (T + 1) * 500);
    assert.equal(res.stopped, PlanStop.COMPLETED);
    assert.equal(res.rollouts.length, 0, "no frames cross the wire unless asked");
  });

  it("the latent scorer (chunk-end state vs the goal's encoding) ranks like pixel L2 on perturbations of growing size", async () => {
    // Constructed as the model contract's latent test is: the model's default 4 denoising steps (at 1
    // step the residual noise in the state outweighs small perturbations), one direction at growing scales.
    const params = { numSteps: 4, guidance: undefined, seed: 3 };
    const goal4 = (await h.client.predictBatch({ model: TINY, startFrame, candidates: [packActions(hidden, T, D)], params })).response.rollouts[0]!.frames[T]! as Uint8Array;
    const direction = perturbed(new Float32Array(T * D), 300, 1);
    const candidates = [2.4, 0.3, 1.2, 0, 0.6].map((scale) => hidden.map((v, i) => v + scale * direction[i]!));
    const byScorer = async (scorer: string) =>
      (await rank(candidates, { params, cost: { scorer, goal: { encoding: FrameEncoding.RAW_RGB8, data: goal4, height: H, width: W }, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] } })).ranking;
    const pixel = await byScorer("pixel-l2");
    assert.deepEqual(pixel, [3, 1, 4, 2, 0], "pixel L2 orders by perturbation size");
    assert.deepEqual(await byScorer("latent"), pixel);
  });

  it("CEM on masked dims brings the goal cost under 25% of the zero-action cost", async () => {
    const zero = await zeroCost();
    const res = await call({ planner: { $case: "cem", value: { samples: 32, iterations: 6, elites: 6, momentum: 0.1, stdMin: 0.02 } } });
    assert.equal(res.iterationsCompleted, 6);
    assert.ok(res.bestCost < 0.25 * zero, `best ${res.bestCost} vs zero-action ${zero}; per iteration ${res.iterations.map((s) => s.bestCost.toFixed(5)).join(" ")}`);
    const best = new Float32Array(new Uint8Array(res.bestActions!.data).buffer.slice(0));
    assert.ok(best.every((v, i) => i % D < MASK.end || v === 0), "unmasked dims stay at the nominal (zero) sequence");
    assert.equal(res.summary!.frames, 6 * 32 * (T + 1));
  });

  it("MPPI improves on its initial mean (the zero sequence)", async () => {
    const zero = await zeroCost();
    const res = await call({ planner: { $case: "mppi", value: { samples: 32, iterations: 4, lambda: 0.002 } } });
    assert.ok(res.bestCost < zero, `best ${res.bestCost} vs initial mean's ${zero}`);
    assert.ok(res.iterations[3]!.meanCost < res.iterations[0]!.meanCost, `mean cost per iteration ${res.iterations.map((s) => s.meanCost.toFixed(5)).join(" ")}`);
  });

  it("pruning at chunk boundaries keeps the best candidate and bills exactly the frames generated", async () => {
    const T2 = 36; // three chunks: halving 8 → 4 → 2
    const long = (seed: number, scale: number) => {
      const a = new Float32Array(T2 * D);
      const base = heldSequence(seed, scale);
      for (let t = 0; t < T2; t++) a.set(base.subarray(0, D), t * D);
      return a;
    };
    const candidates = [0.0, 0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.1].map((s, i) => (i === 5 ? long(7, 0.8) : perturbed(long(7, 0.8), 200 + i, 0.2 + s)));
    const goal = (await h.client.predictBatch({ model: TINY, startFrame, candidates: [packActions(candidates[5]!, T2, D)], params: { numSteps: 1, seed: 3 } })).response.rollouts[0]!.frames[T2]! as Uint8Array;
    const req = (pruning: PlanRequest["pruning"]): Partial<PlanRequest> => ({
      actionSteps: 0,
      planner: { $case: "rank", value: { candidates: candidates.map((c) => packActions(c, T2, D)) } },
      cost: { scorer: "", goal: { encoding: FrameEncoding.RAW_RGB8, data: goal, height: H, width: W }, aggregation: CostAggregation.MEAN, gamma: 0, goalFrames: [] },
      pruning,
    });
    const full = await call(req(undefined));
    const pruned = await call(req({ dropFraction: 0.5, keepMin: 1 }));
    assert.equal(pruned.ranking[0], full.ranking[0]);
    assert.equal(pruned.ranking[0], 5);
    const expectedFrames = 8 + 12 * (8 + 4 + 2); // conditioning frames + chunk frames of the live lanes
    assert.equal(pruned.summary!.frames, expectedFrames);
    assert.equal(pruned.summary!.cost!.micros, expectedFrames * 500);
    assert.equal(pruned.iterations[0]!.pruned, 6);
    assert.equal(full.summary!.frames, 8 * (T2 + 1));
  });

  it("a goal trajectory (goal_frames) is tracked frame by frame: the true path costs 0 at every chunk, so halving keeps it", async () => {
    const T3 = 36;
    const hidden3 = new Float32Array(T3 * D);
    for (let t = 0; t < T3; t++) hidden3.set(hidden.subarray(0, D), t * D);
    const path = (await h.client.predictBatch({ model: TINY, startFrame, candidates: [packActions(hidden3, T3, D)], params: { numSteps: 1, seed: 3 } })).response.rollouts[0]!.frames.slice(1) as Uint8Array[];
    const candidates = [4, 0, 1, 2, 3, 5, 6, 7].map((s) => (s === 0 ? hidden3 : perturbed(hidden3, 400 + s, 0.4)));
    const req = (pruning: PlanRequest["pruning"]): Partial<PlanRequest> => ({
      actionSteps: 0,
      planner: { $case: "rank", value: { candidates: candidates.map((c) => packActions(c, T3, D)) } },
      cost: { scorer: "", goal: undefined, aggregation: CostAggregation.MEAN, gamma: 0, goalFrames: path.map((f) => ({ encoding: FrameEncoding.RAW_RGB8, data: f, height: H, width: W })) },
      pruning,
    });
    const full = await call(req(undefined));
    const pruned = await call(req({ dropFraction: 0.5, keepMin: 1 }));
    assert.equal(full.ranking[0], 1);
    assert.equal(full.bestCost, 0);
    assert.equal(pruned.ranking[0], 1, "the tracking candidate survives every halving");
    assert.equal(pruned.summary!.frames, 8 + 12 * (8 + 4 + 2));
  });

  it("an anytime budget too short for the iterations returns OK with fewer of them, billing only what ran", async () => {
    const before = await h.client.getBalance();
    const res = await call({ planner: { $case: "cem", value: { samples: 8, iterations: 50, elites: 2, momentum: 0, stdMin: 0.01 } }, budget: { timeBudgetMs: 1, framesMax: 0, costMaxMicros: 0 } });
    assert.equal(res.stopped, PlanStop.TIME_BUDGET);
    assert.equal(res.iterationsCompleted, 1);
    assert.equal(res.summary!.frames, 8 * (T + 1));
    const after = await h.client.getBalance();
    assert.equal(before.balanceMicros - after.balanceMicros, 8 * (T + 1) * 500);
    assert.equal(after.heldMicros, 0);
  });

  it("a budget that runs out during a later iteration still answers OK with the best so far, billing every frame generated", async () => {
    // Whether the budget cuts an iteration midway or stops before one starts depends on timing; what
    // holds either way is checked: OK, TIME_BUDGET, fewer iterations, and the bill equals the frames.
    const before = await h.client.getBalance();
    const res = await call({ actionSteps: 48, planner: { $case: "cem", value: { samples: 16, iterations: 40, elites: 4, momentum: 0, stdMin: 0.01 } }, budget: { timeBudgetMs: 400, framesMax: 0, costMaxMicros: 0 } });
    const after = await h.client.getBalance();
    assert.equal(res.stopped, PlanStop.TIME_BUDGET);
    assert.ok(res.iterationsCompleted >= 1 && res.iterationsCompleted < 40, `${res.iterationsCompleted} iterations`);
    assert.ok(res.summary!.frames >= res.iterationsCompleted * 16 * 49, "every completed iteration's frames are billed");
    assert.equal(before.balanceMicros - after.balanceMicros, res.summary!.frames * 500);
    assert.equal(after.heldMicros, 0);
    assert.ok(Number.isFinite(res.bestCost));
  });

  it("a frame cap allows fewer iterations (FRAME_CAP) and the reserve covers only those", async () => {
    const res = await call({ planner: { $case: "cem", value: { samples: 8, iterations: 10, elites: 2, momentum: 0, stdMin: 0.01 } }, budget: { timeBudgetMs: 0, framesMax: 3 * 8 * (T + 1) + 5, costMaxMicros: 0 } });
    assert.equal(res.stopped, PlanStop.FRAME_CAP);
    assert.equal(res.iterationsCompleted, 3);
  });

  it("asks for rollouts and gets only those: the best candidate's JPEG frames", async () => {
    const res = await rank([perturbed(hidden, 5, 0.5), hidden], { output: { bestRollout: true, topK: 0, encoding: undefined } });
    assert.equal(res.rollouts.length, 1);
    assert.equal(res.rollouts[0]!.candidateIndex, 1);
    assert.equal(res.rollouts[0]!.encoding, FrameEncoding.JPEG);
    assert.equal(res.rollouts[0]!.frames.length, T + 1);
  });

  it("StreamPlan sends one event per iteration, then the plan, and the events are the plan's iterations", async () => {
    const stream = planning.streamPlan(planRequest({ planner: { $case: "cem", value: { samples: 8, iterations: 3, elites: 2, momentum: 0, stdMin: 0.01 } } }), md());
    const events: PlanEvent[] = [];
    for await (const e of stream as AsyncIterable<PlanEvent>) events.push(e);
    assert.deepEqual(events.map((e) => e.event?.$case), ["iteration", "iteration", "iteration", "plan"]);
    const final = events[3]!.event!.value as PlanResponse;
    assert.deepEqual(events.slice(0, 3).map((e) => e.event!.value), final.iterations);
    assert.equal(final.iterationsCompleted, 3);
  });

  it("cancelling a StreamPlan stops the plan: the hold is settled, only generated frames are billed, and no more iterations run", async () => {
    const before = await h.client.getBalance();
    const stream = planning.streamPlan(planRequest({ actionSteps: 48, planner: { $case: "cem", value: { samples: 16, iterations: 60, elites: 4, momentum: 0, stdMin: 0.01 } } }), md());
    let iterations = 0;
    const ended = new Promise<grpc.ServiceError | undefined>((resolve) => {
      stream.on("data", () => {
        iterations++;
        if (iterations === 1) stream.cancel();
      });
      stream.on("error", (err: grpc.ServiceError) => resolve(err));
      stream.on("end", () => resolve(undefined));
    });
    const err = await ended;
    assert.equal(err?.code, grpc.status.CANCELLED);
    await until(async () => (await h.client.getBalance()).heldMicros === 0);
    const after = await h.client.getBalance();
    const charged = before.balanceMicros - after.balanceMicros;
    const worst = 60 * 16 * 49 * 500;
    // (The ledger's last entries go into the message: this failed once under CI load, charged 0.)
    const recent = charged >= 16 * 49 * 500 ? [] : (await h.app.billing.transactions(h.customerId, 5)).map((t) => `${t.requestId} ${t.amountMicros}`);
    assert.ok(charged >= 16 * 49 * 500, `at least the first iteration is billed (${charged}); last ledger entries: ${recent.join(", ")}`);
    assert.ok(charged < worst / 4, `a cancelled plan is billed what ran, not its worst case (${charged} of ${worst})`);
    assert.equal(charged % 500, 0, "whole frames");
  });

  it("a StreamPlan whose send fails after the first iteration (the client left) bills the iterations that ran, not nothing", async () => {
    // In process, through the method table the transports serve, so the failing send is certain (over
    // the wire it depends on when the cancel lands; this once voided the whole hold in CI).
    const impl = h.app.methods.get("/dream.v1.Planning/StreamPlan")!;
    const ctx: CallContext = { requestId: randomUUID(), apiKey: h.apiKey, peer: "127.0.0.1", signal: new AbortController().signal, deadlineWallMs: undefined, responseHeaders: new Map<string, string>() };
    const before = await h.client.getBalance();
    const admission = await impl.admit(ctx);
    let sends = 0;
    const send = async (): Promise<void> => {
      sends++;
      throw new Error("the client went away");
    };
    const req = planRequest({ actionSteps: 48, planner: { $case: "cem", value: { samples: 16, iterations: 20, elites: 4, momentum: 0, stdMin: 0.01 } } });
    await assert.rejects((impl.handler as StreamHandler<PlanRequest, PlanEvent>)(req, ctx, admission, send), /the client went away|internal error/);
    assert.equal(sends, 1, "no iteration ran after the failed send");
    await until(async () => (await h.client.getBalance()).heldMicros === 0);
    const charged = before.balanceMicros - (await h.client.getBalance()).balanceMicros;
    assert.equal(charged, 16 * 49 * 500, "exactly the one iteration that ran is billed");
  });

  it("a goal the engine refuses fails the plan (the first iteration does not wait for it) and nothing is charged", async () => {
    // The goal is sent without waiting for its reply (one chunk boundary less behind batch work);
    // its failure must still fail the plan, not let it answer with costs scored against nothing.
    const { engine } = h.app.registry.live(TINY);
    const setGoal = engine.setGoal!;
    engine.setGoal = async () => {
      throw new Error("the goal was refused");
    };
    try {
      const before = await h.client.getBalance();
      await assert.rejects(rank([hidden]), (e: grpc.ServiceError) => e.code !== grpc.status.OK && /the goal was refused|internal error|engine/i.test(e.details));
      await until(async () => (await h.client.getBalance()).heldMicros === 0);
      assert.equal((await h.client.getBalance()).balanceMicros, before.balanceMicros, "nothing charged");
    } finally {
      engine.setGoal = setGoal;
    }
  });

  it("a StreamPlan whose hold record the ledger refuses while its iterations run sends nothing and charges nothing", async () => {
    // The record is written behind the first iteration's start (BillingService.reserveGated). Here it
    // is refused 40 ms in (the real hold undone first, as a refusing ledger would never have kept it).
    const billing = h.app.billing;
    const original = billing.reserveGated.bind(billing);
    billing.reserveGated = async (input) => {
      const gated = await original(input);
      const recorded = gated.recorded.then(async () => {
        await new Promise((r) => setTimeout(r, 40));
        await billing.void(input.requestId);
        throw new ServiceError("UNAVAILABLE", "billing is unavailable: the billing ledger is unreachable");
      });
      recorded.catch(() => undefined);
      return { recorded };
    };
    try {
      const impl = h.app.methods.get("/dream.v1.Planning/StreamPlan")!;
      const ctx: CallContext = { requestId: randomUUID(), apiKey: h.apiKey, peer: "127.0.0.1", signal: new AbortController().signal, deadlineWallMs: undefined, responseHeaders: new Map<string, string>() };
      const before = await h.client.getBalance();
      const admission = await impl.admit(ctx);
      let sends = 0;
      const req = planRequest({ actionSteps: 48, planner: { $case: "cem", value: { samples: 16, iterations: 3, elites: 4, momentum: 0, stdMin: 0.01 } } });
      await assert.rejects((impl.handler as StreamHandler<PlanRequest, PlanEvent>)(req, ctx, admission, async () => void sends++), /ledger is unreachable/);
      assert.equal(sends, 0, "no event before a durable hold");
      const after = await h.client.getBalance();
      assert.deepEqual([after.balanceMicros, after.heldMicros], [before.balanceMicros, 0]);
    } finally {
      billing.reserveGated = original;
    }
  });

  it("REST: plan and stream_plan are transcoded from the proto (JSON in, JSON / NDJSON out)", async () => {
    const b64 = (u: Uint8Array) => Buffer.from(u).toString("base64");
    const frameJson = (data: Uint8Array) => ({ encoding: "RAW_RGB8", data: b64(data), height: H, width: W });
    const body = {
      start_frame: frameJson(start),
      cost: { goal: frameJson(goalFrame) },
      rank: { candidates: [perturbed(hidden, 9, 0.6), hidden].map((c) => ({ data: b64(new Uint8Array(c.buffer)), shape: [T, D] })) },
      params: { num_steps: 1, seed: 3 },
    };
    const headers = { authorization: `Bearer ${h.apiKey}`, "content-type": "application/json" };
    const res = await fetch(`${h.httpBase}/v1/models/${TINY}/plan`, { method: "POST", headers, body: JSON.stringify(body) });
    const json = (await res.json()) as { ranking: number[]; best_cost: number; stopped: string; summary: { frames: number } };
    assert.equal(res.status, 200, JSON.stringify(json));
    assert.deepEqual(json.ranking, [1, 0]);
    assert.equal(json.best_cost, 0);
    assert.equal(json.stopped, "COMPLETED");
    assert.equal(res.headers.get("x-dreamengine-frames"), String(2 * (T + 1)));
    const streamed = await fetch(`${h.httpBase}/v1/models/${TINY}/stream_plan`, { method: "POST", headers, body: JSON.stringify(body) });
    const lines = (await streamed.text()).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(lines.map((l) => Object.keys(l)[0]), ["iteration", "plan"]);
  });

  it("bad planner parameters are INVALID_ARGUMENT naming the field, and nothing is charged", async () => {
    const before = await h.client.getBalance();
    const bad: [string, Partial<PlanRequest>][] = [
      ["cem.elites", { planner: { $case: "cem", value: { samples: 8, iterations: 2, elites: 9, momentum: 0, stdMin: 0 } } }],
      ["mppi.lambda", { planner: { $case: "mppi", value: { samples: 8, iterations: 2, lambda: -1 } } }],
      ["sampling.mask[0]", { planner: { $case: "mppi", value: { samples: 8, iterations: 2, lambda: 1 } }, sampling: { mask: [{ start: 0, end: 999 }], nominal: undefined, warmStart: undefined, initStd: 1, low: [], high: [], holdSteps: 0, smoothing: 0 } }],
      ["cost.goal", { planner: { $case: "mppi", value: { samples: 8, iterations: 2, lambda: 1 } }, cost: { scorer: "", goal: { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(10), height: 2, width: 5 }, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] } }],
      ["cost.scorer", { planner: { $case: "mppi", value: { samples: 8, iterations: 2, lambda: 1 } }, cost: { scorer: "dino", goal: { encoding: FrameEncoding.RAW_RGB8, data: goalFrame, height: H, width: W }, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] } }],
      ["budget.frames_max", { planner: { $case: "mppi", value: { samples: 8, iterations: 2, lambda: 1 } }, budget: { timeBudgetMs: 0, framesMax: 10, costMaxMicros: 0 } }],
    ];
    for (const [field, over] of bad) {
      const err = await call(over).then(
        () => assert.fail(`${field}: expected INVALID_ARGUMENT`),
        (e: grpc.ServiceError) => e,
      );
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${field}: ${err.details}`);
      assert.equal(errorInfoOf(err.metadata)?.metadata.field, field, err.details);
    }
    const after = await h.client.getBalance();
    assert.equal(after.balanceMicros, before.balanceMicros);
    assert.equal(after.heldMicros, 0);
  });

  it("402 before any engine work when the balance cannot cover the worst case", async () => {
    const poor = await h.newKey(0.01);
    const err = await call({ planner: { $case: "cem", value: { samples: 8, iterations: 10, elites: 2, momentum: 0, stdMin: 0 } } }, poor.rawKey).then(
      () => assert.fail("expected INSUFFICIENT_CREDITS"),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(errorInfoOf(err.metadata)?.reason, "INSUFFICIENT_CREDITS");
  });
});
