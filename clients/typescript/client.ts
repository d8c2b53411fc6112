// Typed gRPC client for Dream Engine: promise-based calls, the API key on every call, and errors as
// DreamError carrying the same `reason` vocabulary as the server, REST and the Python SDK.
import * as grpc from "@grpc/grpc-js";
import {
  BillingClient,
  FrameEncoding,
  ModelsClient,
  StatusClient,
  type Actions,
  type Balance,
  type CancelCandidatesResponse,
  type GetStatusResponse,
  type ModelSpec,
  type PredictBatchRequest,
  type PredictBatchResponse,
  type PredictRequest,
  type PredictResponse,
  type StreamPredictResponse,
} from "../../src/gen/dream/v1/dream";
import { rawResponseBytesBound as boundFor } from "../../src/wire/raw-response";
import { errorInfoOf, retryInfoOf } from "../../src/wire/status-details";
import { reserveWarmReceive, WARM_RECEIVE_BYTES_MIN } from "./warm-receive";

export class DreamError extends Error {
  override name = "DreamError";
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: Record<string, string>,
    readonly retryAfterS: number | undefined,
    readonly requestId: string | undefined,
  ) {
    super(message);
  }
}

function toDreamError(err: grpc.ServiceError): DreamError {
  const info = errorInfoOf(err.metadata);
  const retry = retryInfoOf(err.metadata);
  const requestId = err.metadata?.get("x-dreamengine-request-id")[0];
  return new DreamError(err.code, info?.reason ?? grpc.status[err.code] ?? "UNKNOWN", err.details, info?.metadata ?? {}, retry?.retryDelay?.seconds, typeof requestId === "string" ? requestId : undefined);
}

/** Packs a (T, D) action sequence into the wire form: little-endian float32 bytes plus the shape. */
export function packActions(values: Float32Array, steps: number, dim: number): Actions {
  if (values.length !== steps * dim) throw new Error(`expected ${steps * dim} values for (${steps}, ${dim}), got ${values.length}`);
  return { data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength), shape: [steps, dim] };
}

export interface ClientOptions {
  address: string;
  apiKey?: string;
  /** Per-call deadline; default none. */
  timeoutMs?: number;
  /**
   * Raw unary responses of at least this many bytes are received into a buffer faulted in while the
   * engine computes (warm-receive.ts); 0 turns that off. Default WARM_RECEIVE_BYTES_MIN (4 MiB).
   */
  warmReceiveBytesMin?: number;
}

export interface CallResult<T> {
  response: T;
  headers: Record<string, string>;
}

export class DreamClient {
  readonly models: InstanceType<typeof ModelsClient>;
  readonly billing: InstanceType<typeof BillingClient>;
  readonly status: InstanceType<typeof StatusClient>;

  constructor(private readonly options: ClientOptions) {
    const channelOptions: grpc.ChannelOptions = {
      "grpc.max_receive_message_length": -1,
      "grpc.max_send_message_length": -1,
      // A K=8 raw 480x640 response is 361 MB: with HTTP/2's default 64 KiB window the server waits on
      // WINDOW_UPDATEs constantly (measured: 2.3 s vs 1.5 s for that response over loopback).
      "grpc-node.flow_control_window": 64 * 1024 * 1024,
    };
    const creds = grpc.credentials.createInsecure();
    this.models = new ModelsClient(options.address, creds, channelOptions);
    this.billing = new BillingClient(options.address, creds, channelOptions);
    this.status = new StatusClient(options.address, creds, channelOptions);
  }

  metadata(extra: Record<string, string> = {}): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.options.apiKey) md.set("authorization", `Bearer ${this.options.apiKey}`);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    return md;
  }

  callOptions(timeoutMs = this.options.timeoutMs): grpc.CallOptions {
    return timeoutMs ? { deadline: new Date(Date.now() + timeoutMs) } : {};
  }

  private unary<Req, Res>(
    target: { [k: string]: any },
    method: string,
    request: Req,
    extra: { metadata?: Record<string, string>; timeoutMs?: number } = {},
    /** An upper bound on the response's size when it is known up front (raw predicts). */
    responseBytesBound?: number,
  ): Promise<CallResult<Res>> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {};
      const minBytes = this.options.warmReceiveBytesMin ?? WARM_RECEIVE_BYTES_MIN;
      const reservation = responseBytesBound !== undefined && minBytes > 0 ? reserveWarmReceive(responseBytesBound, minBytes) : undefined;
      let call;
      try {
        call = target[method](request, this.metadata(extra.metadata), this.callOptions(extra.timeoutMs), (err: grpc.ServiceError | null, res: Res) => {
          reservation?.cancel();
          if (err) reject(toDreamError(err));
          else resolve({ response: res, headers });
        });
      } catch (err) {
        reservation?.cancel(); // the call never started: nothing will take the buffer
        throw err;
      }
      call.on("metadata", (md: grpc.Metadata) => {
        for (const [k, v] of Object.entries(md.getMap())) headers[k] = String(v);
      });
    });
  }

  listModels(): Promise<ModelSpec[]> {
    return this.unary<object, { models: ModelSpec[] }>(this.models, "listModels", {}).then((r) => r.response.models);
  }

  getModel(slug: string): Promise<ModelSpec> {
    return this.unary<object, ModelSpec>(this.models, "getModel", { slug }).then((r) => r.response);
  }

  /** One rollout (Models.Predict); the same as predictBatch with K = 1. */
  predict(request: Partial<PredictRequest> & { model: string }, extra: { metadata?: Record<string, string>; timeoutMs?: number } = {}): Promise<CallResult<PredictResponse>> {
    const b = fillBatch({ ...request, candidates: [] });
    const single: PredictRequest = { model: b.model, startFrame: b.startFrame, actions: request.actions, params: b.params, output: b.output, deadlineMs: b.deadlineMs, requestId: b.requestId };
    return this.unary(this.models, "predict", single, extra, rawResponseBytesBound({ ...b, candidates: request.actions ? [request.actions] : [] }));
  }

  predictBatch(request: Partial<PredictBatchRequest> & { model: string }, extra: { metadata?: Record<string, string>; timeoutMs?: number } = {}): Promise<CallResult<PredictBatchResponse>> {
    const filled = fillBatch(request);
    return this.unary(this.models, "predictBatch", filled, extra, rawResponseBytesBound(filled));
  }

  /** Server stream as an async iterator; `call` is exposed so callers can cancel. */
  streamPredict(request: Partial<PredictBatchRequest> & { model: string }, extra: { metadata?: Record<string, string>; timeoutMs?: number } = {}) {
    const call: grpc.ClientReadableStream<StreamPredictResponse> = this.models.streamPredict(fillBatch(request), this.metadata(extra.metadata), this.callOptions(extra.timeoutMs));
    async function* messages(): AsyncGenerator<StreamPredictResponse> {
      try {
        for await (const m of call as AsyncIterable<StreamPredictResponse>) yield m;
      } catch (err) {
        throw toDreamError(err as grpc.ServiceError);
      }
    }
    return { call, messages: messages() };
  }

  cancelCandidates(requestId: string, candidateIndices: number[] = []): Promise<CancelCandidatesResponse> {
    return this.unary<object, CancelCandidatesResponse>(this.models, "cancelCandidates", { requestId, candidateIndices }).then((r) => r.response);
  }

  getBalance(): Promise<Balance> {
    return this.unary<object, Balance>(this.billing, "getBalance", {}).then((r) => r.response);
  }

  getStatus(): Promise<GetStatusResponse> {
    return this.unary<object, GetStatusResponse>(this.status, "getStatus", {}).then((r) => r.response);
  }

  close(): void {
    this.models.close();
    this.billing.close();
    this.status.close();
  }
}

/**
 * An upper bound on the framed size of a raw PredictBatchResponse (or PredictResponse, K = 1) for this
 * request, if the request says enough to know it (src/wire/raw-response.ts: the layout both ends share).
 */
export function rawResponseBytesBound(r: PredictBatchRequest): number | undefined {
  const encoding = r.output?.encoding ?? FrameEncoding.FRAME_ENCODING_UNSPECIFIED;
  if (encoding !== FrameEncoding.RAW_RGB8 && encoding !== FrameEncoding.FRAME_ENCODING_UNSPECIFIED) return undefined;
  return boundFor((r.startFrame?.height ?? 0) * (r.startFrame?.width ?? 0) * 3, r.candidates.map((c) => c.shape[0] ?? 0));
}

function fillBatch(r: Partial<PredictBatchRequest> & { model: string }): PredictBatchRequest {
  return {
    model: r.model,
    startFrame: r.startFrame,
    candidates: r.candidates ?? [],
    params: r.params,
    output: r.output ?? { encoding: FrameEncoding.RAW_RGB8, jpegQuality: 0 },
    deadlineMs: r.deadlineMs ?? 0,
    requestId: r.requestId ?? "",
  };
}
