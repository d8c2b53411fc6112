// Sessions on the TS client against a scripted server: the unary create / step / close calls, and
// control(): the open message first, step() resolving with each decision in order, send() + the
// iterator, close() half-closing and waiting for the server, the signal and cancel() rejecting
// pending steps with CANCELLED, and a server failure reaching every waiter as the same DreamError.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { DreamClient, rawFrame, unpackActions, type ControlEvent } from "../../clients/typescript/src";
import { PlanResponse, StepSessionRequest } from "../../src/gen/dream/v1/planning";
import { failCall, FakeEngine, rejection, until } from "./fake-engine";

const obs = rawFrame(new Uint8Array(12), 2, 2);
const open = { plan: { model: "m", planner: { $case: "cem" as const, value: { samples: 8, iterations: 2, elites: 2 } } }, executeSteps: 1 };

describe("TS client: sessions and control", function () {
  this.timeout(20_000);
  let engine: FakeEngine;
  let client: DreamClient;
  beforeEach(async () => {
    engine = await FakeEngine.start();
    client = new DreamClient({ address: engine.address, apiKey: "dre_k", retryBackoffMs: 20, retryBackoffMsMax: 80 });
  });
  afterEach(async () => {
    client.close();
    await engine.stop();
  });

  it("createSession, stepSession and closeSession are unary calls with the key; a step is retried like a plan", async () => {
    engine.createSession = [{ ok: { sessionId: "s-9", model: "m", ttlS: 30, executeSteps: 1, steps: 0 } }];
    const s = await client.createSession(open);
    assert.equal(s.sessionId, "s-9");
    assert.equal(engine.callsOf("createSession")[0]!.metadata.get("authorization")[0], "Bearer dre_k");
    const decision = { ok: { actions: { data: new Uint8Array(new Float32Array([7, 8]).buffer), shape: [1, 2] }, plan: PlanResponse.fromPartial({ bestCost: 0.1 }), step: 0 } };
    engine.stepSession = [{ fail: { code: grpc.status.UNAVAILABLE } }, decision];
    const { response } = await client.stepSession({ sessionId: "s-9", observation: obs, requestId: "step-1" });
    assert.deepEqual([...unpackActions(response.actions)], [7, 8]);
    assert.deepEqual(engine.callsOf("stepSession").map((c) => (c.request as StepSessionRequest).requestId), ["step-1", "step-1"], "resent with its request id");
    engine.stepSession = [{ fail: { code: grpc.status.UNAVAILABLE } }, decision];
    await rejection(client.stepSession({ sessionId: "s-9", observation: obs }));
    assert.equal(engine.callsOf("stepSession").length, 3, "without one it may have been billed: not resent");
    engine.createSession = [{ fail: { code: grpc.status.UNAVAILABLE } }, { ok: { sessionId: "s-10", model: "m", ttlS: 30, executeSteps: 1, steps: 0 } }];
    await rejection(client.createSession(open));
    assert.equal(engine.callsOf("createSession").length, 2, "a create lost in flight is not resent: it may have opened a session");
    engine.closeSession = [{ ok: { steps: 1, cost: { micros: 500, usd: "0.0005" } } }];
    assert.equal((await client.closeSession("s-9")).cost?.micros, 500);
    engine.closeSession = [{ fail: { code: grpc.status.NOT_FOUND, reason: "NOT_FOUND" } }];
    assert.equal((await rejection(client.closeSession("gone"))).reason, "NOT_FOUND");
  });

  it("control opens the session first, answers each step() in order, and close() ends the call OK", async () => {
    const control = client.control(open);
    const session = await control.opened;
    assert.equal(session.sessionId, "s-1");
    assert.equal(session.executeSteps, 1);
    const [a, b, c] = await Promise.all([control.step(obs), control.step(obs, { executedSteps: 1, requestId: "r-b" }), control.step(obs)]);
    assert.deepEqual([a!.step, b!.step, c!.step], [0, 1, 2]);
    assert.deepEqual([...unpackActions(c!.actions)], [2, 2]);
    await control.close();
    const kinds = engine.controlRequests.map((m) => m.message?.$case);
    assert.deepEqual(kinds, ["open", "step", "step", "step"]);
    const second = engine.controlRequests[2]!.message;
    assert.ok(second?.$case === "step");
    assert.equal(second.value.executedSteps, 1);
    assert.equal(second.value.requestId, "r-b");
    assert.equal(engine.callsOf("control")[0]!.metadata.get("authorization")[0], "Bearer dre_k");
    assert.equal((await rejection(control.step(obs))).reason, "FAILED_PRECONDITION", "no step after close");
    assert.equal(engine.controlRequests.length, 4);
  });

  it("send() leaves the decision to the iterator, which yields opened, then the decisions, and ends with the call", async () => {
    const control = client.control(open);
    control.send(obs);
    control.send(obs);
    const events: ControlEvent[] = [];
    for await (const e of control) {
      events.push(e);
      if (events.length === 3) void control.close();
    }
    assert.deepEqual(events.map((e) => e.kind), ["opened", "step", "step"]);
    const last = events[2]!;
    assert.ok(last.kind === "step");
    assert.equal(last.step, 1);
  });

  it("aborting the signal cancels the call on the server and rejects pending steps with CANCELLED and the reason", async () => {
    engine.control = [
      (call) => {
        call.on("data", (m) => {
          if (m.message?.$case === "open") call.write({ message: { $case: "opened", value: { sessionId: "s-2", model: "m", ttlS: 1, executeSteps: 1, steps: 0 } } });
          // steps are never answered: the planner is busy
        });
      },
    ];
    const ac = new AbortController();
    const control = client.control(open, { signal: ac.signal });
    await control.opened;
    const pending = [control.step(obs), control.step(obs)];
    await until(() => engine.controlRequests.length === 3);
    const why = new Error("e-stop");
    ac.abort(why);
    for (const p of pending) {
      const err = await rejection(p);
      assert.equal(err.code, grpc.status.CANCELLED);
      assert.equal((err as { cause?: unknown }).cause, why);
    }
    assert.equal((await rejection(control.step(obs))).reason, "CANCELLED");
    await until(() => engine.callsOf("control")[0]!.cancelled);
    assert.equal((await rejection(control.close())).reason, "CANCELLED");
  });

  it("an already-aborted signal sends nothing; cancel() rejects `opened` and the iterator", async () => {
    const dead = client.control(open, { signal: AbortSignal.abort("no") });
    assert.equal((await rejection(dead.opened)).reason, "CANCELLED");
    assert.equal((await rejection(dead.step(obs))).reason, "CANCELLED");
    engine.control = [() => undefined]; // never opens
    const control = client.control(open);
    await until(() => engine.callsOf("control").length >= 1);
    const iterating = (async () => {
      for await (const _ of control) void _;
    })();
    control.cancel("stop");
    assert.equal((await rejection(control.opened)).reason, "CANCELLED");
    const err = await rejection(iterating);
    assert.equal((err as { cause?: unknown }).cause, "stop");
  });

  it("a server failure mid-session reaches every pending step, the iterator and close() as the same typed error", async () => {
    engine.control = [
      (call) => {
        call.on("data", (m) => {
          if (m.message?.$case === "open") call.write({ message: { $case: "opened", value: { sessionId: "s-3", model: "m", ttlS: 1, executeSteps: 1, steps: 0 } } });
          else failCall(call, { code: grpc.status.FAILED_PRECONDITION, reason: "INSUFFICIENT_CREDITS" });
        });
      },
    ];
    const control = client.control(open);
    await control.opened;
    const err = await rejection(control.step(obs));
    assert.equal(err.reason, "INSUFFICIENT_CREDITS");
    assert.equal(err.fromServer, true);
    assert.equal((await rejection(control.step(obs))).reason, "INSUFFICIENT_CREDITS");
    assert.equal((await rejection(control.close())).reason, "INSUFFICIENT_CREDITS");
  });

  it("a deadline bounds the whole control stream", async () => {
    engine.control = [() => undefined];
    const control = client.control(open, { timeoutMs: 150 });
    assert.equal((await rejection(control.opened)).reason, "DEADLINE_EXCEEDED");
  });

  it("a server that ends the stream with steps unanswered rejects them", async () => {
    engine.control = [
      (call) => {
        call.on("data", (m) => {
          if (m.message?.$case === "open") call.write({ message: { $case: "opened", value: { sessionId: "s-4", model: "m", ttlS: 1, executeSteps: 1, steps: 0 } } });
          else call.end();
        });
      },
    ];
    const control = client.control(open);
    await control.opened;
    const err = await rejection(control.step(obs));
    assert.match(err.message, /ended the control stream/);
  });
});
