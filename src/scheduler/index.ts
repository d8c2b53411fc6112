// The scheduler's public surface. service/ imports from here; gpu/ needs only ./executor.
export type { EncodeItem, Executor, ModelGeometry, StepBatch, StepLane, StepResult } from "./executor";
export { ModelScheduler, type CancelResult, type ModelSchedulerOptions } from "./loop";
export { plan, type LaneRef, type Plan, type PlanConfig, type PlanState, type QueuedView, type RunningView } from "./plan";
export type { ChunkEvent, ChunkLane, EndEvent, EndReason, RequestSink, SubmitRequest } from "./request";
export type { SchedulerStats } from "./stats";
export { ManualTimer, realTimer, type Timer } from "./timer";
