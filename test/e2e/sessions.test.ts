// Control sessions end to end on the tiny reference model: REST and unary gRPC create → step → step →
// close, the Control bidirectional stream, a warm-started second step beating a cold plan at equal
// iterations, billing per step, the per-key bound, ownership, and bad parameters refused uncharged.
// The goal is the frame a hidden held action sequence reaches (as in plan.test.ts). Idle expiry is
// tested with a fake clock in test/service/sessions-store.test.ts.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { packActions } from "../../clients/typescript/src";
import { limits } from "../../src/core/limits";
import { FrameEncoding, Priority } from "../../src/gen/dream/v1/dream";
import {
  CostAggregation,
  PlanningClient,
  SessionsClient,
  type CloseSessionRequest,
  type CloseSessionResponse,
  type ControlResponse,
  type CreateSessionRequest,
  type PlanRequest,
  type PlanResponse,
  type Session,
  type StepSessionRequest,
  type StepSessionResponse,
} from "../../src/gen/dream/v1/planning";
import { errorInfoOf } from "../../src/wire/status-details";
import { heldSequence as heldSequenceOf } from "./plan-world";
import { bearer, startHarness, testFrame, until, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const [H, W, D, T] = [48, 64, 384, 12];
const MASK = { start: 0, end: 29 };
const EXECUTE = 4;

const heldSequence = (seed: number, scale: number): Float32Array => heldSequenceOf(T, D, seed, scale);

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString("base64");
const unary = <Req, Res>(fn: (req: Req, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown, req: Req, md: grpc.Metadata): Promise<Res> =>
  new Promise((resolve, reject) => fn(req, md, (err, res) => (err ? reject(err) : resolve(res))));
const failure = (p: Promise<unknown>): Promise<grpc.ServiceError> =>
  p.then(
    () => assert.fail("expected an error"),
    (e: grpc.ServiceError) => e,
  );

describe("e2e: control sessions (Sessions over REST, unary gRPC and Control, tiny model)", function () {
  this.timeout(300_000);
  let h: Harness;
  let sessions: SessionsClient;
  let planning: PlanningClient;
  const start = testFrame(H, W);
  const observation = { encoding: FrameEncoding.RAW_RGB8, data: start, height: H, width: W };
  const hidden = heldSequence(7, 0.8);
  let goalFrame: Uint8Array;

  const md = (key = h.apiKey): grpc.Metadata => bearer(key);
  const cem = { $case: "cem" as const, value: { samples: 16, iterations: 2, elites: 4, momentum: 0, stdMin: 0.02 } };
  const template = (over: Partial<PlanRequest> = {}): PlanRequest => ({
    model: TINY,
    startFrame: undefined,
    actionSteps: T,
    cost: { scorer: "", goal: { encoding: FrameEncoding.RAW_RGB8, data: goalFrame, height: H, width: W }, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] },
    planner: cem,
    sampling: { mask: [MASK], nominal: undefined, warmStart: undefined, initStd: 0.8, low: [], high: [], holdSteps: T, smoothing: 0 },
    pruning: undefined,
    budget: undefined,
    params: { numSteps: 1, guidance: undefined, seed: 3 },
    output: undefined,
    deadlineMs: 0,
    requestId: "",
    priority: Priority.PRIORITY_UNSPECIFIED,
    ...over,
  });
  const createReq = (over: Partial<CreateSessionRequest> = {}, plan: Partial<PlanRequest> = {}): CreateSessionRequest => ({ plan: template(plan), ttlS: 0, executeSteps: EXECUTE, ...over });
  const stepReq = (sessionId: string, over: Partial<StepSessionRequest> = {}): StepSessionRequest => ({ sessionId, observation, goal: undefined, executedSteps: 0, requestId: "", ...over });
  const create = (req: CreateSessionRequest, key?: string) => unary<CreateSessionRequest, Session>(sessions.createSession.bind(sessions), req, md(key));
  const step = (req: StepSessionRequest, key?: string) => unary<StepSessionRequest, StepSessionResponse>(sessions.stepSession.bind(sessions), req, md(key));
  const close = (sessionId: string, key?: string) => unary<CloseSessionRequest, CloseSessionResponse>(sessions.closeSession.bind(sessions), { sessionId }, md(key));
  const balance = async () => (await h.client.getBalance()).balanceMicros;

  before(async () => {
    h = await startHarness();
    sessions = new SessionsClient(h.grpcAddress, grpc.credentials.createInsecure());
    planning = new PlanningClient(h.grpcAddress, grpc.credentials.createInsecure());
    const { response } = await h.client.predictBatch({ model: TINY, startFrame: observation, candidates: [packActions(hidden, T, D)], params: { numSteps: 1, seed: 3 } });
    goalFrame = response.rollouts[0]!.frames[T]! as Uint8Array;
  });
  after(async () => {
    sessions?.close();
    planning?.close();
    await h?.stop();
  });

  it("REST: POST /v1/sessions → two steps → DELETE, each step billed as its own plan", async () => {
    const headers = { authorization: `Bearer ${h.apiKey}`, "content-type": "application/json" };
    const frame = (bytes: Uint8Array) => ({ encoding: "RAW_RGB8", data: b64(bytes), height: H, width: W });
    const body = {
      plan: { model: TINY, action_steps: T, cost: { goal: frame(goalFrame) }, cem: { samples: 16, iterations: 2, elites: 4, momentum: 0, std_min: 0.02 }, sampling: { mask: [MASK], init_std: 0.8, hold_steps: T }, params: { num_steps: 1, seed: 3 } },
      execute_steps: EXECUTE,
    };
    const before = await balance();
    const created = await fetch(`${h.httpBase}/v1/sessions`, { method: "POST", headers, body: JSON.stringify(body) });
    assert.equal(created.status, 200, await created.clone().text());
    const session = (await created.json()) as { session_id: string; ttl_s: number; execute_steps: number; model: string };
    assert.match(session.session_id, /^ses_/);
    assert.equal(session.ttl_s, limits.sessionTtlSDefault);
    assert.equal(session.execute_steps, EXECUTE);
    assert.equal(await balance(), before, "creating a session charges nothing");
    const charges: number[] = [];
    for (const i of [0, 1]) {
      const res = await fetch(`${h.httpBase}/v1/sessions/${session.session_id}/step`, { method: "POST", headers, body: JSON.stringify({ observation: frame(start) }) });
      assert.equal(res.status, 200, await res.clone().text());
      const out = (await res.json()) as { step?: number; actions: { shape: number[] }; plan: { summary: { request_id: string; frames: number; cost: { micros: number } } } };
      assert.equal(out.step ?? 0, i);
      assert.deepEqual(out.actions.shape, [EXECUTE, D]);
      assert.equal(out.plan.summary.frames, 2 * 16 * (T + 1));
      charges.push(out.plan.summary.cost.micros);
    }
    const closed = await fetch(`${h.httpBase}/v1/sessions/${session.session_id}`, { method: "DELETE", headers: { authorization: headers.authorization } });
    assert.equal(closed.status, 200);
    const total = (await closed.json()) as { steps: number; cost: { micros: number } };
    assert.equal(total.steps, 2);
    assert.equal(total.cost.micros, charges[0]! + charges[1]!);
    assert.equal(before - (await balance()), total.cost.micros);
    const again = await fetch(`${h.httpBase}/v1/sessions/${session.session_id}/step`, { method: "POST", headers, body: JSON.stringify({ observation: frame(start) }) });
    assert.equal(again.status, 404);
  });

  it("gRPC: a warm-started second step reaches a lower cost than a cold plan at equal iterations", async () => {
    const cold = await unary<PlanRequest, PlanResponse>(planning.plan.bind(planning), template({ startFrame: observation }), md());
    const s = await create(createReq());
    const first = await step(stepReq(s.sessionId));
    assert.equal(first.plan!.bestCost, cold.bestCost, "step 0 is the template's plan: the same as a cold Plan");
    const second = await step(stepReq(s.sessionId, { executedSteps: EXECUTE }));
    assert.equal(second.step, 1);
    assert.equal(second.plan!.iterationsCompleted, cold.iterationsCompleted);
    assert.ok(second.plan!.bestCost < cold.bestCost, `warm ${second.plan!.bestCost} vs cold ${cold.bestCost}`);
    assert.notEqual(first.plan!.summary!.requestId, second.plan!.summary!.requestId, "each step has its own request id");
    await close(s.sessionId);
  });

  it("gRPC: billing per step equals the frames generated; close reports the total; then NOT_FOUND", async () => {
    const before = await balance();
    const s = await create(createReq());
    const a = await step(stepReq(s.sessionId, { requestId: "my-step-0" }));
    const b = await step(stepReq(s.sessionId));
    assert.equal(a.plan!.summary!.requestId, "my-step-0", "a client-chosen request_id works like Plan's");
    assert.equal(new Uint8Array(a.actions!.data).byteLength, EXECUTE * D * 4);
    for (const r of [a, b]) assert.equal(r.plan!.summary!.cost!.micros, r.plan!.summary!.frames * 500);
    const charged = a.plan!.summary!.cost!.micros + b.plan!.summary!.cost!.micros;
    const closed = await close(s.sessionId);
    assert.equal(closed.steps, 2);
    assert.equal(closed.cost!.micros, charged);
    assert.equal(before - (await balance()), charged);
    assert.equal((await failure(step(stepReq(s.sessionId)))).code, grpc.status.NOT_FOUND);
    assert.equal((await failure(close(s.sessionId))).code, grpc.status.NOT_FOUND);
  });

  it("Control: open, three steps, half-close ends the call OK and closes the session", async () => {
    const call = sessions.control(md());
    const responses: ControlResponse[] = [];
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    const next = () => new Promise<ControlResponse>((resolve, reject) => { call.once("data", resolve); call.once("error", reject); });
    call.write({ message: { $case: "open", value: createReq() } });
    responses.push(await next());
    for (let i = 0; i < 3; i++) {
      call.write({ message: { $case: "step", value: stepReq("", { executedSteps: i === 0 ? 0 : EXECUTE }) } });
      responses.push(await next());
    }
    call.end();
    assert.equal((await status).code, grpc.status.OK);
    const opened = responses[0]!.message;
    assert.equal(opened?.$case, "opened");
    const id = opened.$case === "opened" ? opened.value.sessionId : "";
    const steps = responses.slice(1).map((r) => (r.message?.$case === "step" ? r.message.value : assert.fail("expected a step")));
    assert.deepEqual(steps.map((s) => s.step), [0, 1, 2]);
    assert.ok(steps.every((s) => s.actions!.shape[0] === EXECUTE));
    assert.equal(new Set(steps.map((s) => s.plan!.summary!.requestId)).size, 3);
    assert.equal((await failure(step(stepReq(id)))).code, grpc.status.NOT_FOUND, "the stream's end closed the session");
  });

  it("Control: a first message that is not an open ends the call INVALID_ARGUMENT naming open", async () => {
    const call = sessions.control(md());
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => undefined);
    call.write({ message: { $case: "step", value: stepReq("") } });
    const s = await status;
    assert.equal(s.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(errorInfoOf(s.metadata)?.metadata.field, "open");
    call.end();
  });

  it("Control: a cancel ends the call CANCELLED, closes the session and leaves no hold", async () => {
    const call = sessions.control(md());
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => undefined);
    const opened = new Promise<ControlResponse>((resolve) => call.once("data", resolve));
    call.write({ message: { $case: "open", value: createReq({}, { planner: { $case: "cem", value: { ...cem.value, iterations: 40 } } }) } });
    const first = (await opened).message;
    const id = first?.$case === "opened" ? first.value.sessionId : assert.fail("expected opened");
    call.write({ message: { $case: "step", value: stepReq("") } });
    call.cancel();
    assert.equal((await status).code, grpc.status.CANCELLED);
    await until(async () => (await h.client.getBalance()).heldMicros === 0);
    await until(async () => (await failure(close(id))).code === grpc.status.NOT_FOUND);
  });

  it("Control: without a valid key the call is UNAUTHENTICATED and no session opens", async () => {
    const call = sessions.control(md("dre_not_a_key"));
    const status = new Promise<grpc.StatusObject>((resolve) => call.on("status", resolve));
    call.on("error", () => undefined);
    call.write({ message: { $case: "open", value: createReq() } });
    assert.equal((await status).code, grpc.status.UNAUTHENTICATED);
    call.end();
  });

  it("the per-key bound: the 17th open session is RATE_LIMITED; closing one makes room", async () => {
    const key = await h.newKey(1);
    const opened: Session[] = [];
    for (let i = 0; i < limits.sessionsPerKeyMax; i++) opened.push(await create(createReq(), key.rawKey));
    const err = await failure(create(createReq(), key.rawKey));
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(errorInfoOf(err.metadata)?.reason, "RATE_LIMITED");
    await close(opened[0]!.sessionId, key.rawKey);
    opened[0] = await create(createReq(), key.rawKey);
    for (const s of opened) await close(s.sessionId, key.rawKey);
  });

  it("another customer's session is NOT_FOUND, to step and to close", async () => {
    const other = await h.newKey(1);
    const s = await create(createReq());
    assert.equal((await failure(step(stepReq(s.sessionId), other.rawKey))).code, grpc.status.NOT_FOUND);
    assert.equal((await failure(close(s.sessionId, other.rawKey))).code, grpc.status.NOT_FOUND);
    assert.equal((await close(s.sessionId)).steps, 0, "still open for its owner");
  });

  it("bad parameters are INVALID_ARGUMENT naming the field, and nothing is charged", async () => {
    const before = await balance();
    const rank = { $case: "rank" as const, value: { candidates: [packActions(hidden, T, D)] } };
    const badCreates: [string, CreateSessionRequest][] = [
      ["plan.planner", createReq({}, { planner: rank })],
      ["plan.cem.elites", createReq({}, { planner: { $case: "cem", value: { ...cem.value, elites: 17 } } })],
      ["plan.cost.goal", createReq({}, { cost: { scorer: "", goal: { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(10), height: 2, width: 5 }, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] } })],
      ["plan.cost.scorer", createReq({}, { cost: { scorer: "dino", goal: { encoding: FrameEncoding.RAW_RGB8, data: goalFrame, height: H, width: W }, aggregation: CostAggregation.FINAL, gamma: 0, goalFrames: [] } })],
      ["ttl_s", createReq({ ttlS: limits.sessionTtlSMax + 1 })],
      ["execute_steps", createReq({ executeSteps: T + 1 })],
    ];
    for (const [field, req] of badCreates) {
      const err = await failure(create(req));
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${field}: ${err.details}`);
      assert.equal(errorInfoOf(err.metadata)?.metadata.field, field, err.details);
    }
    const s = await create(createReq());
    const badSteps: [string, StepSessionRequest][] = [
      ["observation", stepReq(s.sessionId, { observation: undefined })],
      ["observation", stepReq(s.sessionId, { observation: { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(12), height: 2, width: 2 } })],
      ["goal", stepReq(s.sessionId, { goal: { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(12), height: 2, width: 2 } })],
      ["executed_steps", stepReq(s.sessionId, { executedSteps: T + 1 })],
      ["session_id", stepReq("")],
    ];
    for (const [field, req] of badSteps) {
      const err = await failure(step(req));
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${field}: ${err.details}`);
      assert.equal(errorInfoOf(err.metadata)?.metadata.field, field, err.details);
    }
    assert.equal((await close(s.sessionId)).steps, 0);
    assert.equal(await balance(), before);
    assert.equal((await h.client.getBalance()).heldMicros, 0);
  });
});
