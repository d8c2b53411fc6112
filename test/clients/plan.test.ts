// The TS client's planning calls against a scripted server: plan() follows predict's retry, deadline
// and signal rules (a plan is billed); streamPlan() yields typed iteration events then the plan, with
// cancel() and the signal; planRequest() and unpackActions() build and read the messages.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { CostAggregation, DreamClient, FrameEncoding, packActions, planRequest, rawFrame, unpackActions, type PlanStreamEvent } from "../../clients/typescript/src";
import { PlanEvent, PlanRequest, PlanResponse } from "../../src/gen/dream/v1/planning";
import { FakeEngine, rejection, until } from "./fake-engine";

const frame = rawFrame(new Uint8Array(12), 2, 2);
const request = (requestId = "") => planRequest({ model: "m", startFrame: frame, goal: frame, actionSteps: 2, planner: { cem: { samples: 8, iterations: 3 } }, mask: [[0, 1]], requestId });
const answer = (bestCost = 0.5) => ({ ok: PlanResponse.fromPartial({ bestCost, bestActions: packActions(new Float32Array([1, 2, 3, 4]), 2, 2), iterationsCompleted: 3 }) });
const iteration = (i: number): PlanEvent => ({ event: { $case: "iteration", value: { iteration: i, bestCost: 1 / (i + 1), meanCost: 2, eliteCost: 1.5, candidates: 8, pruned: 0, frames: 24 } } });
const planned = (): PlanEvent => ({ event: { $case: "plan", value: answer(0.25).ok } });

describe("TS client: plan and streamPlan", function () {
  this.timeout(20_000);
  let engine: FakeEngine;
  let client: DreamClient;
  beforeEach(async () => {
    engine = await FakeEngine.start();
    client = new DreamClient({ address: engine.address, retryBackoffMs: 20, retryBackoffMsMax: 80 });
  });
  afterEach(async () => {
    client.close();
    await engine.stop();
  });

  it("planRequest fills every field with the proto's defaults and the planner's sane ones", () => {
    const r = request("r-1");
    assert.deepEqual(r.planner, { $case: "cem", value: { samples: 8, iterations: 3, elites: 1, momentum: 0, stdMin: 0 } });
    assert.deepEqual(r.sampling?.mask, [{ start: 0, end: 1 }]);
    assert.equal(r.cost?.aggregation, CostAggregation.FINAL);
    assert.equal(r.cost?.goal, frame);
    assert.equal(r.requestId, "r-1");
    assert.deepEqual(PlanRequest.decode(PlanRequest.encode(r).finish()), r, "encodes and decodes to itself: no field left undefined that must not be");
    const mppi = planRequest({ model: "m", goal: frame, planner: { mppi: { samples: 4, iterations: 2, lambda: 0.01 } } });
    assert.equal(mppi.sampling, undefined, "no mask: the server samples every dimension");
    assert.throws(() => rawFrame(new Uint8Array(5), 2, 2), /12 bytes/);
  });

  it("plan sends the request with the key and returns the decision; unpackActions reads best_actions", async () => {
    const keyed = new DreamClient({ address: engine.address, apiKey: "dre_test" });
    try {
      engine.plan = [answer()];
      const { response } = await keyed.plan(request());
      assert.equal(response.bestCost, 0.5);
      assert.deepEqual([...unpackActions(response.bestActions)], [1, 2, 3, 4]);
      const [call] = engine.callsOf("plan");
      assert.equal(call!.metadata.get("authorization")[0], "Bearer dre_test");
      assert.equal((call!.request as PlanRequest).planner?.$case, "cem");
      // A partial request is completed with the proto's defaults.
      engine.plan = [answer()];
      await keyed.plan({ model: "m", planner: { $case: "mppi", value: { samples: 4, iterations: 1, lambda: 1 } } });
      assert.equal((engine.callsOf("plan")[1]!.request as PlanRequest).actionSteps, 0);
    } finally {
      keyed.close();
    }
  });

  it("unpackActions copies bytes that sit at an odd offset, and refuses a shape that does not match", () => {
    const bytes = new Uint8Array(9);
    bytes.set(new Uint8Array(new Float32Array([1.5, -2]).buffer), 1);
    assert.deepEqual([...unpackActions({ data: bytes.subarray(1), shape: [1, 2] })], [1.5, -2]);
    assert.throws(() => unpackActions({ data: new Uint8Array(8), shape: [3, 1] }), /12 bytes/);
    assert.equal(unpackActions(undefined).length, 0);
  });

  it("retries a plan refused before work (RATE_LIMITED), a lost one only with a request id, never an engine failure", async () => {
    engine.plan = [{ fail: { code: grpc.status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED" } }, answer()];
    await client.plan(request());
    assert.equal(engine.callsOf("plan").length, 2);
    engine.plan = [{ fail: { code: grpc.status.UNAVAILABLE } }, answer()];
    assert.equal((await rejection(client.plan(request()))).reason, "UNAVAILABLE");
    assert.equal(engine.callsOf("plan").length, 3, "a bare UNAVAILABLE without a request id: maybe billed, not resent");
    engine.plan = [{ fail: { code: grpc.status.UNAVAILABLE } }, answer()];
    await client.plan(request("plan-1"));
    assert.deepEqual(engine.callsOf("plan").slice(3).map((c) => (c.request as PlanRequest).requestId), ["plan-1", "plan-1"]);
    engine.plan = [{ fail: { code: grpc.status.INTERNAL, reason: "ENGINE_FAILURE" } }, answer()];
    assert.equal((await rejection(client.plan(request("plan-2")))).reason, "ENGINE_FAILURE");
    assert.equal(engine.callsOf("plan").length, 6);
    engine.plan = [{ fail: { code: grpc.status.INVALID_ARGUMENT, reason: "INVALID_ARGUMENT" } }];
    const bad = await rejection(client.plan(request()));
    assert.equal(bad.details.why, "scripted", "the server's ErrorInfo metadata comes through");
  });

  it("a deadline ends a plan the server never answers; aborting cancels it on the server", async () => {
    engine.plan = [{ hang: true }, { hang: true }];
    assert.equal((await rejection(client.plan(request(), { timeoutMs: 150 }))).reason, "DEADLINE_EXCEEDED");
    const ac = new AbortController();
    const pending = client.plan(request(), { signal: ac.signal });
    await until(() => engine.callsOf("plan").length === 2);
    const why = new Error("robot stopped");
    ac.abort(why);
    const err = await rejection(pending);
    assert.equal(err.reason, "CANCELLED");
    assert.equal((err as { cause?: unknown }).cause, why);
    await until(() => engine.callsOf("plan")[1]!.cancelled);
  });

  it("streamPlan yields a typed iteration event per iteration, then the plan", async () => {
    engine.planStream = [{ messages: [iteration(0), iteration(1), iteration(2), planned()], then: "end" }];
    const events: PlanStreamEvent[] = [];
    for await (const e of client.streamPlan(request())) events.push(e);
    assert.deepEqual(events.map((e) => e.kind), ["iteration", "iteration", "iteration", "plan"]);
    const first = events[0]!;
    assert.ok(first.kind === "iteration");
    assert.equal(first.iteration, 0);
    assert.equal(first.candidates, 8);
    const last = events[3]!;
    assert.ok(last.kind === "plan");
    assert.equal(last.plan.bestCost, 0.25);
    engine.planStream = [{ messages: [iteration(0), planned()], then: "end" }];
    assert.equal((await client.streamPlan(request()).result()).bestCost, 0.25);
  });

  it("streamPlan is retried only before its first event", async () => {
    engine.planStream = [{ messages: [], then: { code: grpc.status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED" } }, { messages: [iteration(0), planned()], then: "end" }];
    assert.equal((await client.streamPlan(request()).result()).bestCost, 0.25);
    assert.equal(engine.callsOf("streamPlan").length, 2);
    engine.planStream = [{ messages: [iteration(0)], then: { code: grpc.status.UNAVAILABLE, reason: "UNAVAILABLE" } }, { messages: [planned()], then: "end" }];
    const kinds: string[] = [];
    const err = await rejection((async () => {
      for await (const e of client.streamPlan(request("s-1"))) kinds.push(e.kind);
    })());
    assert.equal(err.reason, "UNAVAILABLE");
    assert.deepEqual(kinds, ["iteration"]);
    assert.equal(engine.callsOf("streamPlan").length, 3);
  });

  it("cancel() and the signal end a stream on the server and reject CANCELLED", async () => {
    engine.planStream = [{ messages: [iteration(0)], then: "hang" }, { messages: [iteration(0)], then: "hang" }];
    const stream = client.streamPlan(request());
    const it = stream[Symbol.asyncIterator]();
    assert.equal(((await it.next()).value as PlanStreamEvent).kind, "iteration");
    stream.cancel("enough");
    const err = await rejection(it.next());
    assert.equal(err.reason, "CANCELLED");
    assert.equal((err as { cause?: unknown }).cause, "enough");
    await until(() => engine.callsOf("streamPlan")[0]!.cancelled);

    const ac = new AbortController();
    const kinds: string[] = [];
    const looping = (async () => {
      for await (const e of client.streamPlan(request(), { signal: ac.signal })) {
        kinds.push(e.kind);
        ac.abort();
      }
    })();
    assert.equal((await rejection(looping)).reason, "CANCELLED");
    assert.deepEqual(kinds, ["iteration"]);
    await until(() => engine.callsOf("streamPlan")[1]!.cancelled);
    assert.equal(FrameEncoding.RAW_RGB8, frame.encoding);
  });
});
