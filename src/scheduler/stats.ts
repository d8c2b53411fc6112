// What status pages and metrics read from a scheduler. A snapshot: plain numbers, safe to serialise.
import type { EndReason } from "./request";

export interface SchedulerStats {
  /** Requests / live lanes waiting for admission. */
  queuedRequests: number;
  queuedLanes: number;
  /** Requests / live lanes holding executor state (admitted, not ended). */
  runningRequests: number;
  runningLanes: number;
  /** Of the running and queued lanes, per class: what replica placement weighs (placement.ts). */
  interactiveLanes: number;
  interactiveQueuedLanes: number;
  batchLanes: number;
  batchQueuedLanes: number;
  /** Running batch requests / their live lanes out of play at the last boundary (paused for interactive work). */
  pausedRequests: number;
  pausedLanes: number;
  /** Paused requests whose states were released over the state budget, and lane-chunks recomputed for them. */
  evictions: number;
  replayedLaneChunks: number;
  /** An encode or step call is in flight. */
  busy: boolean;
  draining: boolean;
  /** Lanes in the most recent step call. */
  lastBatchLanes: number;
  /** Step calls made (each runs one chunk for a batch of lanes). */
  chunksStepped: number;
  /** Sum of lanes over all step calls: chunks of lane work done. */
  laneChunksStepped: number;
  encodeCalls: number;
  /** Smoothed duration of a step call, as used for deadline decisions. */
  stepUsEstimate: number;
  /** Requests ended, by reason. */
  ended: Record<EndReason, number>;
  /** Sink callbacks that threw or rejected. */
  sinkErrors: number;
}

export function emptyEnded(): Record<EndReason, number> {
  return { completed: 0, cancelled: 0, deadline: 0, failed: 0 };
}
