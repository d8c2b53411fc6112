// The scheduler's bookkeeping for one request and its lanes. Mutated only by the loop and cancel().
import type { ServiceError } from "../core/errors";
import { chunkCountOf } from "./chunks";
import type { StepScore } from "./executor";
import type { Priority, RequestSink, SubmitRequest } from "./request";

/**
 * live → cancelling (cancel() while the lane holds state: it stops at the next chunk boundary)
 *      → cancelled (stopped, state released);  live → done (ran its last chunk).
 * A queued lane that is cancelled goes straight to cancelled: it holds no state.
 */
export type LaneStatus = "live" | "cancelling" | "cancelled" | "done";

export interface LaneState {
  readonly candidateIndex: number;
  readonly actions: Float32Array;
  readonly stateKey: string;
  status: LaneStatus;
  /** Predicted frames generated so far (trimmed); what billing charges. */
  frames: number;
  /** The executor may hold a state under stateKey (set once a step writing it has been issued). */
  stateHeld: boolean;
}

export type Phase = "queued" | "running" | "ended";

export class RequestState {
  readonly requestId: string;
  readonly numSteps: number;
  readonly guidance: number;
  readonly seed: bigint;
  readonly deadlineUs: number | undefined;
  readonly score: (StepScore & { lastChunkOnly?: boolean }) | undefined;
  readonly chunkwise: boolean;
  readonly priority: Priority;
  readonly customerId: string;
  readonly chunkCount: number;
  /** Key of the encoded start frame; every lane reads it for chunk 0, then it is released. */
  readonly encodeKey: string;
  readonly lanes: LaneState[];

  phase: Phase = "queued";
  /**
   * Dropped after encoding (a queued 480x640 frame is 0.9 MB we need not keep) — except for batch
   * requests, which may be evicted while paused and then recompute their states from it.
   */
  startFrame: Uint8Array | undefined;
  /** Next chunk to run. All live lanes of a request move together, so one index serves them all. */
  nextChunk = 0;
  /**
   * Chunks delivered to the sink (and counted in lane frames). Equal to nextChunk, except after an
   * eviction: chunks below it are recomputed to rebuild the states, and neither delivered nor billed.
   */
  deliveredChunks = 0;
  /** Lower = has waited longer for service; decides which numSteps group steps next (see plan.ts). */
  readySeq: number;
  startUs: number | undefined;
  /** Runner compute this request took part in (see EndEvent.computeUs). */
  computeUs = 0;
  encodeHeld = false;
  /** onChunk promises not yet settled (backpressure bound). */
  pendingChunks = 0;
  /** Why the scheduler cancelled the lanes itself (consumer stalled or failed). */
  stopError: ServiceError | undefined;

  constructor(
    request: SubmitRequest,
    readonly sink: RequestSink,
    readonly actionSteps: number,
    chunkSize: number,
    readonly enqueuedUs: number,
    serial: number,
  ) {
    this.requestId = request.requestId;
    this.numSteps = request.numSteps;
    this.guidance = request.guidance;
    this.seed = request.seed;
    this.deadlineUs = request.deadlineUs;
    this.score = request.score;
    this.chunkwise = request.chunkwise === true;
    this.priority = request.priority ?? "interactive";
    this.customerId = request.customerId ?? "";
    this.startFrame = request.startFrame;
    this.chunkCount = chunkCountOf(actionSteps, chunkSize);
    this.readySeq = serial;
    // The serial keeps keys unique even when a client reuses a request id after the first one ended.
    const base = `${request.requestId}#${serial}`;
    this.encodeKey = `${base}/start`;
    this.lanes = request.lanes.map((actions, candidateIndex) => ({
      candidateIndex,
      actions,
      stateKey: `${base}/c${candidateIndex}`,
      status: "live",
      frames: 0,
      stateHeld: false,
    }));
  }

  /** Whether the chunk about to run is scored. */
  get scoresNextChunk(): boolean {
    return this.score !== undefined && (!this.score.lastChunkOnly || this.nextChunk === this.chunkCount - 1);
  }

  candidatesWith(...statuses: LaneStatus[]): number[] {
    return this.lanes.filter((l) => statuses.includes(l.status)).map((l) => l.candidateIndex);
  }

  /** Every state key the executor may hold for this request (encoded start frame, lanes), now forgotten here: the caller releases them. */
  takeHeldKeys(): string[] {
    const keys: string[] = [];
    if (this.encodeHeld) keys.push(this.encodeKey);
    this.encodeHeld = false;
    for (const l of this.lanes) {
      if (l.stateHeld) keys.push(l.stateKey);
      l.stateHeld = false;
    }
    return keys;
  }

  /** Whether the lanes (or the encoded start frame) hold executor state. */
  get holdsState(): boolean {
    return this.encodeHeld || this.lanes.some((l) => l.stateHeld);
  }

  /** Whether chunks of it run now only to rebuild evicted states (not delivered, not billed). */
  get replaying(): boolean {
    return this.nextChunk < this.deliveredChunks;
  }

  get liveLaneCount(): number {
    return this.lanes.reduce((n, l) => n + (l.status === "live" ? 1 : 0), 0);
  }
}
