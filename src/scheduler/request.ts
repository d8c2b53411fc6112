// What a caller (service/) hands the scheduler, and how the scheduler reports back. The service has
// already decoded and validated the request against the catalog; validateSubmit re-checks the shape
// the executor depends on, because a wrong-sized buffer here would become a runner crash or garbage.
import { invalidArgument, type ServiceError } from "../core/errors";
import { limits } from "../core/limits";
import type { ModelGeometry, StepScore } from "./executor";

export interface SubmitRequest {
  /** Unique among this scheduler's queued and running requests; the cancel handle. */
  requestId: string;
  /** K candidate action sequences ("lanes"), each T * actionDim float32, row-major, all the same T. */
  lanes: Float32Array[];
  /** Raw RGB8 start frame at the model's resolution (height * width * 3), shared by all K lanes. */
  startFrame: Uint8Array;
  numSteps: number;
  guidance: number;
  /** Every lane uses this seed: common random numbers make an MPC comparison of candidates fair. */
  seed: bigint;
  /** Absolute deadline in Clock.nowUs() terms. */
  deadlineUs?: number;
  /**
   * Score the lanes' chunks in the executor against a goal set with setGoal (a planner's request):
   * each scored ChunkLane then carries its frames' costs, computed where the frames are. With
   * `lastChunkOnly` only the final chunk is scored (a final-frame cost without pruning needs no more).
   */
  score?: StepScore & { lastChunkOnly?: boolean };
  /**
   * The consumer decides after every chunk which lanes go on (successive halving cancels from onChunk):
   * no chunk of this request starts before onChunk has seen the one before, so the loop does not run
   * chunks back to back for it (plan.ts rule 5).
   */
  chunkwise?: boolean;
  /**
   * Traffic class (plan.ts rule 3): "interactive" (default) never waits behind "batch" work; batch lanes
   * fill what interactive leaves free and are paused at a chunk boundary when interactive needs room.
   */
  priority?: Priority;
  /** Who the request belongs to: customers take turns within a class (fair share), and each has a queue bound. Default "". */
  customerId?: string;
}

export type Priority = "interactive" | "batch";

export interface ChunkLane {
  candidateIndex: number;
  /** Index within the rollout of frames[0]: 1 + chunkIndex * chunkSize (frame 0 is the start frame). */
  firstFrameIndex: number;
  /**
   * One raw RGB8 view per frame, trimmed for a partial last chunk. The views share the executor's
   * output buffer (no copies); the buffer is never reused by the scheduler, so they stay valid.
   */
  frames: Uint8Array[];
  /** Per frame of `frames`, lower is better: present when the request asked for a score. */
  costs?: Float32Array;
}

export interface ChunkEvent {
  chunkIndex: number;
  /** Lanes of this request stepped in this chunk, in candidate order. */
  lanes: ChunkLane[];
}

export type EndReason = "completed" | "cancelled" | "deadline" | "failed";

export interface EndEvent {
  reason: EndReason;
  /**
   * Predicted frames generated per candidate, indexed by candidate (the start frame is not counted:
   * the caller emits it). This is what billing charges; it equals the frames delivered via onChunk.
   */
  framesPerCandidate: number[];
  /** Candidates stopped by cancel() (or by a stalled consumer), ascending. */
  cancelled: number[];
  /** DEADLINE_EXCEEDED for "deadline", ENGINE_FAILURE for "failed", CANCELLED when a stalled/failed consumer was cut off. */
  error?: ServiceError;
  /** From admission (the encode) to the end; 0 when the request never started. */
  engineUs: number;
  /**
   * Of engineUs, the time the runner spent computing this request's encode and chunks (StepResult.
   * computeUs, shared with the other lanes of each batch): engineUs minus this is what scheduling,
   * delivery and the loop ⇄ runner hand-offs cost. 0 when the executor does not report it.
   */
  computeUs: number;
}

/**
 * Results and lifecycle of one request. Calls arrive in order: onStart at most once, then onChunk per
 * finished chunk (chunk indices ascending, no gaps), then exactly one onEnd. A request that never starts
 * (cancelled or expired in the queue) gets only onEnd. onEnd may be called synchronously from cancel().
 *
 * Backpressure: the scheduler never waits for a consumer — one slow reader must not stall the other
 * requests sharing its batch. onChunk may return a Promise that settles when the chunk has been
 * handed on (e.g. written to the wire); while more than `bufferedChunksMax` of those are unsettled, or
 * if one rejects or onChunk throws, the scheduler cancels the request's remaining lanes at the next
 * chunk boundary (onEnd: reason "cancelled", error CANCELLED). Time-based stalls (streamStallMsMax)
 * are the consumer's to detect; it calls cancel() itself.
 */
export interface RequestSink {
  /** Admitted: the start frame is about to be encoded. queueUs = time spent waiting in the queue. */
  onStart?(queueUs: number): void;
  onChunk(event: ChunkEvent): void | Promise<void>;
  onEnd(event: EndEvent): void;
}

/** Checks the shape the executor relies on; returns T (actions per candidate). */
export function validateSubmit(request: SubmitRequest, geometry: ModelGeometry, batchLanesMax: number): number {
  if (typeof request.requestId !== "string" || request.requestId.length === 0) {
    throw invalidArgument("request_id", "must be a non-empty string");
  }
  const candidates = request.lanes.length;
  const candidatesMax = Math.min(batchLanesMax, limits.candidatesMax);
  if (candidates < 1 || candidates > candidatesMax) {
    throw invalidArgument("candidates", `expected 1..${candidatesMax} action sequences for this model, got ${candidates}`, {
      candidates,
      candidatesMax,
    });
  }
  let actionSteps = 0;
  request.lanes.forEach((lane, i) => {
    if (!(lane instanceof Float32Array) || lane.length === 0 || lane.length % geometry.actionDim !== 0) {
      throw invalidArgument(`candidates[${i}]`, `expected float32 [T, ${geometry.actionDim}], got ${lane?.length} values`);
    }
    const steps = lane.length / geometry.actionDim;
    if (steps > limits.actionStepsMax) {
      throw invalidArgument(`candidates[${i}]`, `expected at most ${limits.actionStepsMax} actions, got ${steps}`);
    }
    if (i === 0) actionSteps = steps;
    if (steps !== actionSteps) {
      throw invalidArgument(`candidates[${i}]`, `every candidate needs the same T: candidate 0 has ${actionSteps}, this one ${steps}`);
    }
  });
  const frameBytes = geometry.height * geometry.width * 3;
  if (!(request.startFrame instanceof Uint8Array) || request.startFrame.length !== frameBytes) {
    throw invalidArgument("start_frame", `expected ${geometry.height}x${geometry.width}x3 = ${frameBytes} RGB8 bytes, got ${request.startFrame?.length}`);
  }
  if (!Number.isSafeInteger(request.numSteps) || request.numSteps < 1 || request.numSteps > limits.numStepsMax) {
    throw invalidArgument("num_steps", `expected 1..${limits.numStepsMax}, got ${request.numSteps}`);
  }
  if (!Number.isFinite(request.guidance) || request.guidance < 0 || request.guidance > limits.guidanceMax) {
    throw invalidArgument("guidance", `expected 0..${limits.guidanceMax}, got ${request.guidance}`);
  }
  if (typeof request.seed !== "bigint" || request.seed < 0n || request.seed >= 1n << 64n) {
    throw invalidArgument("seed", "expected an unsigned 64-bit integer");
  }
  if (request.deadlineUs !== undefined && !Number.isFinite(request.deadlineUs)) {
    throw invalidArgument("deadline", `expected a finite time, got ${request.deadlineUs}`);
  }
  return actionSteps;
}
