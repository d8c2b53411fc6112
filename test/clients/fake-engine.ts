// A scripted stand-in for the engine's gRPC surface, for the TS client's own tests: each call takes
// the next step of its method's script (answer, fail with a status and google.rpc details as the real
// server sends them, or hang until the client goes away), and every call is recorded.
import * as grpc from "@grpc/grpc-js";
import { GetStatusResponse, ModelsService, StatusService, type PredictBatchRequest, type PredictBatchResponse, type StreamPredictResponse } from "../../src/gen/dream/v1/dream";
import { ErrorInfo, RetryInfo } from "../../src/gen/google/rpc/error_details";
import { Status } from "../../src/gen/google/rpc/status";
import assert from "node:assert/strict";
import { DreamError } from "../../clients/typescript/src";
import { STATUS_DETAILS_KEY } from "../../src/wire/status-details";

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
export type StreamStep = { messages: StreamPredictResponse[]; then: "end" | Failure | "hang" };

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
      streamPredict: (call: grpc.ServerWritableStream<PredictBatchRequest, StreamPredictResponse>) => f.serveStream(call),
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

  private record(method: string, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): Recorded {
    const r: Recorded = { method, atMs: Date.now(), metadata: call.metadata, request: call.request, cancelled: false };
    call.on("cancelled", () => (r.cancelled = true));
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

  private serveStream(call: grpc.ServerWritableStream<PredictBatchRequest, StreamPredictResponse>): void {
    this.record("streamPredict", call);
    const step = this.stream.shift() ?? { messages: [], then: { code: grpc.status.UNIMPLEMENTED } };
    for (const m of step.messages) call.write(m);
    if (step.then === "end") call.end();
    else if (step.then !== "hang") call.emit("error", Object.assign(new Error("scripted"), serviceError(step.then))); // grpc-js ends the call with this status
  }
}

export const okStatus = (): Step<GetStatusResponse> => ({ ok: GetStatusResponse.fromPartial({ status: "ok", version: "fake" }) });
