// A scripted stand-in for the engine's gRPC surface, for the TS client's own tests: each call takes
// the next step of its method's script (answer, fail with a status and google.rpc details as the real
// server sends them, or hang until the client goes away), and every call is recorded.
import * as grpc from "@grpc/grpc-js";
import { GetStatusResponse, ModelsService, StatusService, type PredictBatchRequest, type PredictBatchResponse, type StreamPredictResponse } from "../../src/gen/dream/v1/dream";
import {
  PlanningService,
  SessionsService,
  type CloseSessionResponse,
  type ControlRequest,
  type ControlResponse,
  type PlanEvent,
  type PlanRequest,
  type PlanResponse,
  type Session,
  type StepSessionResponse,
} from "../../src/gen/dream/v1/planning";
import { ErrorInfo, RetryInfo } from "../../src/gen/google/rpc/error_details";
import { Status } from "../../src/gen/google/rpc/status";
import assert from "node:assert/strict";
import { DreamError } from "../../clients/typescript/src";
import { STATUS_DETAILS_KEY } from "../../src/wire/status-details";

/** Polls `cond` every 10 ms, failing the test after 2 s (a scripted server answers in microtasks). */
export async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), "timed out waiting");
}

/** The DreamError a call rejects with (fails the test if it resolves or rejects with anything else). */
export async function rejection(p: Promise<unknown>): Promise<DreamError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DreamError, `a DreamError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected the call to fail");
}

export interface Failure {
  code: grpc.status;
  /** The ErrorInfo.reason; none: a bare status, as grpc-js or a proxy would end a call. */
  reason?: string;
  retryAfterMs?: number;
}

export type Step<T> = { ok: T } | { fail: Failure } | { hang: true };
/** A stream's step: messages to write, then an ending (ok, a failure, or hanging open). */
export type StreamStep<M = StreamPredictResponse> = { messages: M[]; then: "end" | Failure | "hang" };
/** Serves one Control call (record() has been done); default: controlEcho. */
export type ControlScript = (call: grpc.ServerDuplexStream<ControlRequest, ControlResponse>, recorded: Recorded) => void;

export interface Recorded {
  method: string;
  atMs: number;
  metadata: grpc.Metadata;
  request: unknown;
  /** Set when the client cancelled the call (or its deadline passed) before an answer. */
  cancelled: boolean;
}

export function serviceError(f: Failure): Partial<grpc.StatusObject> {
  const metadata = new grpc.Metadata();
  const details = [];
  if (f.reason) details.push({ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: ErrorInfo.encode({ reason: f.reason, domain: "dreamengine.dev", metadata: { why: "scripted" } }).finish() });
  if (f.retryAfterMs !== undefined) {
    const retryDelay = { seconds: Math.floor(f.retryAfterMs / 1000), nanos: (f.retryAfterMs % 1000) * 1e6 };
    details.push({ typeUrl: "type.googleapis.com/google.rpc.RetryInfo", value: RetryInfo.encode({ retryDelay }).finish() });
  }
  if (details.length) metadata.set(STATUS_DETAILS_KEY, Buffer.from(Status.encode({ code: f.code, message: "scripted failure", details }).finish()));
  return { code: f.code, details: `scripted ${f.reason ?? grpc.status[f.code]}`, metadata };
}

export class FakeEngine {
  readonly calls: Recorded[] = [];
  status: Step<GetStatusResponse>[] = [];
  predictBatch: Step<PredictBatchResponse>[] = [];
  stream: StreamStep[] = [];
  plan: Step<PlanResponse>[] = [];
  planStream: StreamStep<PlanEvent>[] = [];
  createSession: Step<Session>[] = [];
  stepSession: Step<StepSessionResponse>[] = [];
  closeSession: Step<CloseSessionResponse>[] = [];
  /** One per Control call, in order; when none is left, controlEcho. */
  control: ControlScript[] = [];
  /** Every ControlRequest received, in order, over all Control calls. */
  readonly controlRequests: ControlRequest[] = [];
  private readonly server = new grpc.Server();
  port = 0;

  static async start(credentials = grpc.ServerCredentials.createInsecure()): Promise<FakeEngine> {
    const f = new FakeEngine();
    f.server.addService(StatusService, { getStatus: f.unary("getStatus", () => f.status), health: f.unary("health", () => []) });
    f.server.addService(ModelsService, {
      listModels: f.unary("listModels", () => []),
      getModel: f.unary("getModel", () => []),
      predict: f.unary("predict", () => []),
      predictBatch: f.unary("predictBatch", () => f.predictBatch),
      cancelCandidates: f.unary("cancelCandidates", () => []),
      streamPredict: (call: grpc.ServerWritableStream<PredictBatchRequest, StreamPredictResponse>) => f.serveStream("streamPredict", call, f.stream),
    });
    f.server.addService(PlanningService, {
      plan: f.unary("plan", () => f.plan),
      streamPlan: (call: grpc.ServerWritableStream<PlanRequest, PlanEvent>) => f.serveStream("streamPlan", call, f.planStream),
    });
    f.server.addService(SessionsService, {
      createSession: f.unary("createSession", () => f.createSession),
      stepSession: f.unary("stepSession", () => f.stepSession),
      closeSession: f.unary("closeSession", () => f.closeSession),
      control: (call: grpc.ServerDuplexStream<ControlRequest, ControlResponse>) => {
        const r = f.record("control", call);
        call.on("data", (m: ControlRequest) => f.controlRequests.push(m));
        (f.control.shift() ?? controlEcho)(call, r);
      },
    });
    f.port = await new Promise<number>((resolve, reject) => f.server.bindAsync("127.0.0.1:0", credentials, (err, port) => (err ? reject(err) : resolve(port))));
    return f;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  callsOf(method: string): Recorded[] {
    return this.calls.filter((c) => c.method === method);
  }

  stop(): Promise<void> {
    this.server.forceShutdown();
    return Promise.resolve();
  }

  private record(method: string, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): Recorded {
    const r: Recorded = { method, atMs: Date.now(), metadata: call.metadata, request: "request" in call ? call.request : undefined, cancelled: false };
    (call as grpc.ServerUnaryCall<unknown, unknown>).on("cancelled", () => (r.cancelled = true));
    this.calls.push(r);
    return r;
  }

  private unary<T>(method: string, script: () => Step<T>[]) {
    return (call: grpc.ServerUnaryCall<unknown, T>, callback: grpc.sendUnaryData<T>) => {
      this.record(method, call);
      const step = script().shift() ?? { fail: { code: grpc.status.UNIMPLEMENTED } };
      if ("ok" in step) callback(null, step.ok);
      else if ("fail" in step) callback(serviceError(step.fail));
      // hang: never answer; the client's cancel or deadline ends the call
    };
  }

  private serveStream<Req, M>(method: string, call: grpc.ServerWritableStream<Req, M>, script: StreamStep<M>[]): void {
    this.record(method, call as grpc.ServerWritableStream<unknown, unknown>);
    const step = script.shift() ?? { messages: [], then: { code: grpc.status.UNIMPLEMENTED } };
    for (const m of step.messages) call.write(m);
    if (step.then === "end") call.end();
    else if (step.then !== "hang") call.emit("error", Object.assign(new Error("scripted"), serviceError(step.then))); // grpc-js ends the call with this status
  }
}

export const okStatus = (): Step<GetStatusResponse> => ({ ok: GetStatusResponse.fromPartial({ status: "ok", version: "fake" }) });

/** Ends a server call with a scripted failure (status + google.rpc details), as the real server does. */
export function failCall(call: grpc.ServerDuplexStream<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, f: Failure): void {
  call.emit("error", Object.assign(new Error("scripted"), serviceError(f)));
}

/**
 * A well-behaved Control server: answers the open with a Session, each step with a decision whose
 * `step` counts from 0 and whose actions hold that index, and ends the call OK when the client
 * half-closes.
 */
export const controlEcho: ControlScript = (call) => {
  let steps = 0;
  call.on("data", (m: ControlRequest) => {
    if (m.message?.$case === "open") {
      call.write({ message: { $case: "opened", value: { sessionId: "s-1", model: m.message.value.plan?.model ?? "", ttlS: 60, executeSteps: m.message.value.executeSteps || 2, steps: 0 } } });
    } else if (m.message?.$case === "step") {
      const step = steps++;
      const actions = { data: new Uint8Array(new Float32Array([step, step]).buffer), shape: [1, 2] };
      call.write({ message: { $case: "step", value: { actions, plan: undefined, step } } });
    }
  });
  call.on("end", () => call.end());
};
