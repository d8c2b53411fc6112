// @dream-engine/client: the public API. Importing it changes nothing in the process (warm receive,
// which patches grpc-js, is opt-in per client: ClientOptions.warmReceive).
export { DreamClient, JOB_TERMINAL_STATES, jobFinished, packActions, rawResponseBytesBound, type CallResult, type ClientOptions, type JobInput, type PlanInput, type SessionInput, type StepInput, type WaitJobOptions } from "./client";
export { ControlStream, type ControlEvent, type DecisionEvent, type OpenedEvent, type StepOptions } from "./control";
export { planRequest, rawFrame, unpackActions, type CemOptions, type MppiOptions, type PlannerChoice, type PlanSpec } from "./plan-request";
export { PlanStream, type IterationEvent, type PlanResultEvent, type PlanStreamEvent } from "./plan-stream";
export { isLoopbackAddress, type TlsOptions } from "./credentials";
export type { CallOptions } from "./deadline";
export { DreamError } from "./errors";
export { PredictStream } from "./predict-stream";
export { DEFAULT_RETRY_POLICY, RETRIES_MAX } from "./retry";
export type { ChunkEvent, StreamEvent, SummaryEvent } from "./stream-events";
export { warmReceiveCounters, warmReceiveInstalled, WARM_RECEIVE_BYTES_MIN } from "./warm-receive";
export { ERROR_REASONS, RETRYABLE_REASONS } from "../../../src/wire/retryable-reasons";
export * from "../../../src/gen/dream/v1/dream";
export * from "../../../src/gen/dream/v1/planning";
export * from "../../../src/gen/dream/v1/jobs";
