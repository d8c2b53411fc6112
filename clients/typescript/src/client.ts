// Typed gRPC client for Dream Engine: promise-based calls, the API key on every call, one deadline and
// AbortSignal per call across its retries, and errors as DreamError carrying the same `reason`
// vocabulary as the server, REST and the Python SDK.
import * as grpc from "@grpc/grpc-js";
import {
  BillingClient,
  FrameEncoding,
  Priority,
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
} from "../../../src/gen/dream/v1/dream";
import {
  CloseSessionRequest,
  CreateSessionRequest,
  PlanningClient,
  PlanRequest,
  SessionsClient,
  StepSessionRequest,
  type CloseSessionResponse,
  type PlanResponse,
  type Session,
  type StepSessionResponse,
} from "../../../src/gen/dream/v1/planning";
import { CancelJobRequest, CreateJobRequest, GetJobRequest, JobsClient, JobState, ListJobsRequest, type Job, type ListJobsResponse } from "../../../src/gen/dream/v1/jobs";
import { rawResponseBytesBound as boundFor } from "../../../src/wire/raw-response";
import { channelCredentials, type CredentialOptions } from "./credentials";
import { deadlineMsOf, sleepMs, type CallOptions } from "./deadline";
import { randomUUID } from "node:crypto";
import { cancelledError, deadlineError, toDreamError, type DreamError } from "./errors";
import { backoffMs, checkedPolicy, DEFAULT_RETRY_POLICY, isRetryable, type CallKind, type RetryPolicy } from "./retry";
import { ControlStream } from "./control";
import { PlanStream } from "./plan-stream";
import { PredictStream } from "./predict-stream";
import { installWarmReceive, reserveWarmReceive, WARM_RECEIVE_BYTES_MIN } from "./warm-receive";

/** Packs a (T, D) action sequence into the wire form: little-endian float32 bytes plus the shape. */
export function packActions(values: Float32Array, steps: number, dim: number): Actions {
  if (values.length !== steps * dim) throw new Error(`expected ${steps * dim} values for (${steps}, ${dim}), got ${values.length}`);
  return { data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength), shape: [steps, dim] };
}

export interface ClientOptions extends CredentialOptions {
  /** host:port, or any grpc-js target (dns:///host:port, unix:/path). */
  address: string;
  apiKey?: string;
  /** Default deadline of every call, retries included; default none. */
  timeoutMs?: number;
  /** Retries of a failed call (README "Retries"); default 2, at most RETRIES_MAX. */
  retries?: number;
  /** Delay before the first retry, doubled for each further one, before jitter; default 250. */
  retryBackoffMs?: number;
  /** Cap on that delay; default 4000. */
  retryBackoffMsMax?: number;
  /** A server RetryInfo asking for longer than this is not waited out; default 60000. */
  retryAfterMsMax?: number;
  /**
   * Opt in to receiving large raw unary responses into memory faulted in while the engine computes
   * (warm-receive.ts). Patches grpc-js's private StreamDecoder for the whole process when the first
   * client with it is constructed. `true` uses it for responses of WARM_RECEIVE_BYTES_MIN (4 MiB) or
   * more; `{ bytesMin }` sets that threshold. Default off.
   */
  warmReceive?: boolean | { bytesMin: number };
  /**
   * Extra grpc-js channel options, merged over the client's own. Behind a headless Kubernetes Service
   * use `address: "dns:///dream-grpc.<ns>.svc:50051"` with
   * `{ "grpc.service_config": JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) }` so calls
   * spread over every pod, not one connection's (deploy/README.md).
   */
  channelOptions?: grpc.ChannelOptions;
}

export interface CallResult<T> {
  response: T;
  headers: Record<string, string>;
}

type PredictInput = Partial<PredictRequest> & { model: string };
type BatchInput = Partial<PredictBatchRequest> & { model: string };
/** A PlanRequest with any fields left out (deeply: the proto's defaults); `planRequest()` builds one. */
export type PlanInput = Parameters<typeof PlanRequest.fromPartial>[0] & { model: string };
/** CreateSessionRequest, fields optional as PlanInput's; `plan` is the plan every step runs. */
export type SessionInput = Parameters<typeof CreateSessionRequest.fromPartial>[0] & { plan: PlanInput };
export type StepInput = Parameters<typeof StepSessionRequest.fromPartial>[0] & { sessionId: string };
/** CreateJobRequest with any fields left out; `jobId` defaults to a fresh UUID (what makes a retry safe). */
export type JobInput = Parameters<typeof CreateJobRequest.fromPartial>[0] & { model: string };

/** A job's states that never change again. */
export const JOB_TERMINAL_STATES: ReadonlySet<JobState> = new Set([JobState.JOB_SUCCEEDED, JobState.JOB_FAILED, JobState.JOB_CANCELLED, JobState.JOB_BUDGET_EXHAUSTED]);

/** Whether the job has ended (succeeded, failed, cancelled or stopped at its budget). */
export function jobFinished(job: Job): boolean {
  return JOB_TERMINAL_STATES.has(job.state);
}

export interface WaitJobOptions extends CallOptions {
  /** Between polls; default 1000. */
  pollMs?: number;
  /** Called with every job state polled, the final one included (a progress bar's feed). */
  onProgress?: (job: Job) => void;
}

export class DreamClient {
  readonly models: InstanceType<typeof ModelsClient>;
  readonly billing: InstanceType<typeof BillingClient>;
  readonly status: InstanceType<typeof StatusClient>;
  readonly planning: InstanceType<typeof PlanningClient>;
  readonly sessions: InstanceType<typeof SessionsClient>;
  readonly jobs: InstanceType<typeof JobsClient>;
  private readonly policy: RetryPolicy;
  /** 0: warm receive off for this client. */
  private readonly warmBytesMin: number;

  constructor(private readonly options: ClientOptions) {
    this.policy = checkedPolicy({
      retries: options.retries ?? DEFAULT_RETRY_POLICY.retries,
      backoffMs: options.retryBackoffMs ?? DEFAULT_RETRY_POLICY.backoffMs,
      backoffMsMax: options.retryBackoffMsMax ?? DEFAULT_RETRY_POLICY.backoffMsMax,
      retryAfterMsMax: options.retryAfterMsMax ?? DEFAULT_RETRY_POLICY.retryAfterMsMax,
    });
    const warm = options.warmReceive;
    this.warmBytesMin = warm && installWarmReceive() ? Math.max(1, warm === true ? WARM_RECEIVE_BYTES_MIN : warm.bytesMin) : 0;
    const channelOptions: grpc.ChannelOptions = {
      "grpc.max_receive_message_length": -1,
      "grpc.max_send_message_length": -1,
      // A K=8 raw 480x640 response is 361 MB: with HTTP/2's default 64 KiB window the server waits on
      // WINDOW_UPDATEs constantly (measured: 2.3 s vs 1.5 s for that response over loopback).
      "grpc-node.flow_control_window": 64 * 1024 * 1024,
      ...options.channelOptions,
    };
    const creds = channelCredentials(options.address, options);
    this.models = new ModelsClient(options.address, creds, channelOptions);
    this.billing = new BillingClient(options.address, creds, channelOptions);
    this.status = new StatusClient(options.address, creds, channelOptions);
    this.planning = new PlanningClient(options.address, creds, channelOptions);
    this.sessions = new SessionsClient(options.address, creds, channelOptions);
    this.jobs = new JobsClient(options.address, creds, channelOptions);
  }

  metadata(extra: Record<string, string> = {}): grpc.Metadata {
    const md = new grpc.Metadata();
    if (this.options.apiKey) md.set("authorization", `Bearer ${this.options.apiKey}`);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    return md;
  }

  /** The grpc-js options of one attempt of a call whose deadline is `deadlineMs`. */
  callOptions(deadlineMs: number | undefined): grpc.CallOptions {
    return deadlineMs === undefined ? {} : { deadline: new Date(deadlineMs) };
  }

  /**
   * How long to wait before retry number `retry` of a call that failed with `err`, or undefined to
   * give up: not retryable, out of retries, or the wait would pass the deadline.
   */
  retryDelayMs(err: DreamError, retry: number, kind: CallKind, options: CallOptions, deadlineMs: number | undefined): number | undefined {
    const retries = options.retries ?? this.policy.retries;
    if (retry > retries || !isRetryable(err, kind)) return undefined;
    const delay = backoffMs(retry, this.policy, err);
    if (delay === undefined || (deadlineMs !== undefined && Date.now() + delay >= deadlineMs)) return undefined;
    return delay;
  }

  private async unary<Req, Res>(target: { [k: string]: any }, method: string, request: Req, options: CallOptions, kind: CallKind, responseBytesBound?: number): Promise<CallResult<Res>> {
    const deadlineMs = deadlineMsOf(options, this.options.timeoutMs);
    for (let retry = 1; ; retry++) {
      try {
        return await this.attempt<Req, Res>(target, method, request, options, deadlineMs, responseBytesBound);
      } catch (err) {
        const e = err as DreamError;
        if (options.signal?.aborted) throw e;
        const delay = this.retryDelayMs(e, retry, kind, options, deadlineMs);
        if (delay === undefined) throw e;
        await sleepMs(delay, options.signal);
        if (deadlineMs !== undefined && Date.now() >= deadlineMs) throw deadlineError();
      }
    }
  }

  /** One gRPC call; rejects with a DreamError (CANCELLED, with the signal's reason, when aborted). */
  private attempt<Req, Res>(target: { [k: string]: any }, method: string, request: Req, options: CallOptions, deadlineMs: number | undefined, responseBytesBound?: number): Promise<CallResult<Res>> {
    return new Promise((resolve, reject) => {
      const { signal } = options;
      if (signal?.aborted) return reject(cancelledError(signal.reason));
      const headers: Record<string, string> = {};
      const reservation = responseBytesBound !== undefined && this.warmBytesMin > 0 ? reserveWarmReceive(responseBytesBound, this.warmBytesMin) : undefined;
      let call: grpc.ClientUnaryCall;
      const onAbort = () => call.cancel(); // grpc-js then calls back with CANCELLED; reported as the signal's
      try {
        call = target[method](request, this.metadata(options.metadata), this.callOptions(deadlineMs), (err: grpc.ServiceError | null, res: Res) => {
          reservation?.cancel();
          signal?.removeEventListener("abort", onAbort);
          if (signal?.aborted) reject(cancelledError(signal.reason));
          else if (err) reject(toDreamError(err));
          else resolve({ response: res, headers });
        });
      } catch (err) {
        reservation?.cancel(); // the call never started: nothing will take the buffer
        throw err;
      }
      signal?.addEventListener("abort", onAbort, { once: true });
      call.on("metadata", (md: grpc.Metadata) => {
        for (const [k, v] of Object.entries(md.getMap())) headers[k] = String(v);
      });
    });
  }

  listModels(options: CallOptions = {}): Promise<ModelSpec[]> {
    return this.unary<object, { models: ModelSpec[] }>(this.models, "listModels", {}, options, "read").then((r) => r.response.models);
  }

  getModel(slug: string, options: CallOptions = {}): Promise<ModelSpec> {
    return this.unary<object, ModelSpec>(this.models, "getModel", { slug }, options, "read").then((r) => r.response);
  }

  /** One rollout (Models.Predict); the same as predictBatch with K = 1. */
  predict(request: PredictInput, options: CallOptions = {}): Promise<CallResult<PredictResponse>> {
    const b = fillBatch({ ...request, candidates: [] });
    const single: PredictRequest = { model: b.model, startFrame: b.startFrame, actions: request.actions, params: b.params, output: b.output, deadlineMs: b.deadlineMs, requestId: b.requestId, priority: b.priority };
    return this.unary(this.models, "predict", single, options, { predict: single }, rawResponseBytesBound({ ...b, candidates: request.actions ? [request.actions] : [] }));
  }

  /** K rollouts from one start frame (Models.PredictBatch), in submission order. */
  predictBatch(request: BatchInput, options: CallOptions = {}): Promise<CallResult<PredictBatchResponse>> {
    const filled = fillBatch(request);
    return this.unary(this.models, "predictBatch", filled, options, { predict: filled }, rawResponseBytesBound(filled));
  }

  /**
   * Models.StreamPredict: iterate the returned stream for typed events (a chunk per finished chunk,
   * then a summary); `cancel()` ends it early (only generated frames are billed).
   */
  streamPredict(request: BatchInput, options: CallOptions = {}): PredictStream {
    const filled = fillBatch(request);
    const deadlineMs = deadlineMsOf(options, this.options.timeoutMs);
    return new PredictStream({
      start: () => this.models.streamPredict(filled, this.metadata(options.metadata), this.callOptions(deadlineMs)),
      retryDelayMs: (err, retry) => this.retryDelayMs(err, retry, { predict: filled }, options, deadlineMs),
      signal: options.signal,
    });
  }

  cancelCandidates(requestId: string, candidateIndices: number[] = [], options: CallOptions = {}): Promise<CancelCandidatesResponse> {
    // Cancelling twice is the same as once, so it is retried like a read.
    return this.unary<object, CancelCandidatesResponse>(this.models, "cancelCandidates", { requestId, candidateIndices }, options, "read").then((r) => r.response);
  }

  /**
   * Planning.Plan: the server rolls candidates out, scores them against the goal and answers with the
   * decision (best actions and cost, every candidate's cost, per-iteration stats, the charge). Billed
   * like a predict, so retried by the same rules: when refused before work, or after a lost
   * connection only with a requestId.
   */
  plan(request: PlanInput, options: CallOptions = {}): Promise<CallResult<PlanResponse>> {
    const filled = PlanRequest.fromPartial(request);
    return this.unary(this.planning, "plan", filled, options, { predict: filled });
  }

  /**
   * Planning.StreamPlan: iterate the returned stream for an `iteration` event per finished iteration,
   * then the `plan`; `cancel()` (or the signal) ends it early, billing only the frames generated.
   */
  streamPlan(request: PlanInput, options: CallOptions = {}): PlanStream {
    const filled = PlanRequest.fromPartial(request);
    const deadlineMs = deadlineMsOf(options, this.options.timeoutMs);
    return new PlanStream({
      start: () => this.planning.streamPlan(filled, this.metadata(options.metadata), this.callOptions(deadlineMs)),
      retryDelayMs: (err, retry) => this.retryDelayMs(err, retry, { predict: filled }, options, deadlineMs),
      signal: options.signal,
    });
  }

  /**
   * Sessions.CreateSession: a session holding the model, goal, planner and warm start, stepped with
   * stepSession. Not resent after a lost connection (that could open a second session).
   */
  createSession(request: SessionInput, options: CallOptions = {}): Promise<Session> {
    const filled = CreateSessionRequest.fromPartial(request);
    return this.unary<CreateSessionRequest, Session>(this.sessions, "createSession", filled, options, { predict: { requestId: "" } }).then((r) => r.response);
  }

  /** Sessions.StepSession: one decision from the robot's observation; billed as a plan (retried as one). */
  stepSession(request: StepInput, options: CallOptions = {}): Promise<CallResult<StepSessionResponse>> {
    const filled = StepSessionRequest.fromPartial(request);
    return this.unary(this.sessions, "stepSession", filled, options, { predict: filled });
  }

  /** Sessions.CloseSession: the steps taken and what they cost in all. */
  closeSession(sessionId: string, options: CallOptions = {}): Promise<CloseSessionResponse> {
    const filled = CloseSessionRequest.fromPartial({ sessionId });
    return this.unary<CloseSessionRequest, CloseSessionResponse>(this.sessions, "closeSession", filled, options, { predict: { requestId: "" } }).then((r) => r.response);
  }

  /**
   * Sessions.Control: opens a session on a bidirectional stream (`open` is its first message) and
   * returns the ControlStream: `step(observation)` resolves with each decision, `close()` closes the
   * session, the signal (or `cancel()`) ends the call, rejecting pending steps with CANCELLED. The
   * call's deadline (timeoutMs / deadline / the client's timeoutMs) bounds the whole stream.
   */
  control(open: SessionInput, options: CallOptions = {}): ControlStream {
    const filled = CreateSessionRequest.fromPartial(open);
    const deadlineMs = deadlineMsOf(options, this.options.timeoutMs);
    return new ControlStream(filled, {
      start: () => this.sessions.control(this.metadata(options.metadata), this.callOptions(deadlineMs)),
      signal: options.signal,
    });
  }

  /**
   * Jobs.CreateJob: a durable batch job the server runs from `source` (a directory under its jobs root,
   * or uploaded rows) to `sink`, at BATCH priority unless asked otherwise. Always sent with a jobId (a
   * fresh UUID when none is given): creating the same id again returns the existing job, so a retry after
   * a lost connection never makes a second job.
   */
  createJob(request: JobInput, options: CallOptions = {}): Promise<Job> {
    const filled = CreateJobRequest.fromPartial({ ...request, jobId: request.jobId || randomUUID() });
    return this.unary<CreateJobRequest, Job>(this.jobs, "createJob", filled, options, { predict: { requestId: filled.jobId } }).then((r) => r.response);
  }

  /** Jobs.GetJob: rows done / failed / pending, frames, cost, rates and ETA. */
  getJob(jobId: string, options: CallOptions = {}): Promise<Job> {
    return this.unary<GetJobRequest, Job>(this.jobs, "getJob", GetJobRequest.fromPartial({ jobId }), options, "read").then((r) => r.response);
  }

  /** Jobs.ListJobs: the newest `limit` jobs (default 50 on the server, at most 500), newest first. */
  listJobs(limit = 0, options: CallOptions = {}): Promise<Job[]> {
    return this.unary<ListJobsRequest, ListJobsResponse>(this.jobs, "listJobs", ListJobsRequest.fromPartial({ limit }), options, "read").then((r) => r.response.jobs);
  }

  /** Jobs.CancelJob: running rows finish (and are billed), pending rows never start. Cancelling twice is once. */
  cancelJob(jobId: string, options: CallOptions = {}): Promise<Job> {
    return this.unary<CancelJobRequest, Job>(this.jobs, "cancelJob", CancelJobRequest.fromPartial({ jobId }), options, "read").then((r) => r.response);
  }

  /**
   * Polls getJob every `pollMs` until the job has ended and resolves with its final state (a FAILED or
   * BUDGET_EXHAUSTED job resolves; check `state`). `timeoutMs` / `deadline` bound the whole wait (it
   * rejects with DEADLINE_EXCEEDED; the job keeps running), the signal ends it with CANCELLED.
   */
  async waitJob(jobId: string, options: WaitJobOptions = {}): Promise<Job> {
    const { pollMs = 1000, onProgress, ...call } = options;
    if (!Number.isFinite(pollMs) || pollMs <= 0) throw new RangeError(`pollMs must be a positive number, got ${pollMs}`);
    const deadlineMs = deadlineMsOf(call, undefined);
    for (;;) {
      const job = await this.getJob(jobId, { ...call, timeoutMs: undefined, deadline: deadlineMs === undefined ? undefined : new Date(deadlineMs) });
      onProgress?.(job);
      if (jobFinished(job)) return job;
      if (deadlineMs !== undefined && Date.now() + pollMs >= deadlineMs) throw deadlineError();
      await sleepMs(pollMs, call.signal);
    }
  }

  getBalance(options: CallOptions = {}): Promise<Balance> {
    return this.unary<object, Balance>(this.billing, "getBalance", {}, options, "read").then((r) => r.response);
  }

  getStatus(options: CallOptions = {}): Promise<GetStatusResponse> {
    return this.unary<object, GetStatusResponse>(this.status, "getStatus", {}, options, "read").then((r) => r.response);
  }

  close(): void {
    this.models.close();
    this.billing.close();
    this.status.close();
    this.planning.close();
    this.sessions.close();
    this.jobs.close();
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

function fillBatch(r: BatchInput): PredictBatchRequest {
  return {
    model: r.model,
    startFrame: r.startFrame,
    candidates: r.candidates ?? [],
    params: r.params,
    output: r.output ?? { encoding: FrameEncoding.RAW_RGB8, jpegQuality: 0 },
    deadlineMs: r.deadlineMs ?? 0,
    requestId: r.requestId ?? "",
    priority: r.priority ?? Priority.PRIORITY_UNSPECIFIED,
  };
}
