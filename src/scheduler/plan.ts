// The batching decision, as a pure function of (state, now, config): the loop owns the state, this
// decides what to do with it at a chunk boundary (Triton's GetDynamicBatch, vLLM's schedule step).
//
// Policy, in order:
//  1. Deadlines. A running request whose deadline has passed stops here ("stop"). A queued request
//     that could not finish even its first chunk before its deadline (deadline <= now + one step's
//     estimated duration) is failed without running ("expire"): it would burn GPU for nothing.
//  2. Company. With nothing running and fewer queued lanes than a full batch, wait until the oldest
//     request has waited queueDelayUs — unless draining (no company is coming), the wait would cost
//     a queued request its deadline, or the last two arrivals were further apart than the whole wait
//     (a lone control loop would only pay it; a burst, whose gaps are short, still waits). With anything running there is no waiting: newcomers join at
//     the next chunk boundary (iteration-level batching).
//  3. Admission (capacity). At most batchLanesMax lanes hold executor state at once, so every numSteps
//     group always fits one step call. Requests are admitted whole (all live candidates together),
//     oldest first. When the oldest request that does not fit (the "head") is blocked, later requests
//     may overtake it only if that cannot delay it (EASY backfilling, with exact lengths because we
//     know every lane's remaining chunks): a backfilled request must either finish within the
//     "shadow" (the number of chunks until enough running lanes finish for the head to fit) or use only
//     lanes the head will not need then. So a big request is never overtaken forever: its start is
//     bounded by the rollouts already running. The bound is exact when all lanes share numSteps; with
//     mixed numSteps, groups take turns (rule 4), so it holds to within a round of turns.
//  4. Grouping. Lanes in one step call share numSteps. The group is that of the request that has
//     waited longest since it was last served (lowest readySeq: a queued request's arrival order, a
//     running one's last step). Groups therefore take turns, and a newcomer with a different numSteps
//     still runs its first chunk at the next boundary. Every live lane of the chosen group steps.
//  5. Runs. When every running and admitted request shares the chosen numSteps, the batch cannot change
//     before the first of them finishes unless something happens (an arrival, a cancel, a deadline, a
//     consumer falling behind) — and the loop interrupts a run at the next boundary when it does. So the
//     step may cover `chunks` = the fewest chunks any of them has left (capped by runChunksMax): the
//     executor runs them back to back without a round trip per chunk. A queued request that does not
//     fit waits for lanes that free only when a request finishes, i.e. at the end of the run anyway.
//     A chunkwise request (its consumer prunes lanes after each chunk) keeps the step to one chunk.
import { assert } from "../core/assert";

export interface QueuedView {
  requestId: string;
  /** Live candidate indices (cancelled-while-queued ones removed); never empty. */
  candidates: readonly number[];
  chunkCount: number;
  numSteps: number;
  enqueuedUs: number;
  deadlineUs: number | undefined;
  readySeq: number;
  /** Its consumer decides after every chunk (SubmitRequest.chunkwise): never part of a multi-chunk step. */
  chunkwise?: boolean;
}

export interface RunningView {
  requestId: string;
  /** Live candidate indices; never empty. All of them are at nextChunk. */
  candidates: readonly number[];
  nextChunk: number;
  chunkCount: number;
  numSteps: number;
  deadlineUs: number | undefined;
  readySeq: number;
  chunkwise?: boolean;
}

export interface PlanState {
  /** Oldest first. */
  queued: readonly QueuedView[];
  /** Admission order. */
  running: readonly RunningView[];
  draining: boolean;
  /** Gap between the two most recent arrivals (µs); undefined until two requests have arrived. */
  arrivalGapUs?: number;
}

export interface PlanConfig {
  batchLanesMax: number;
  queueDelayUs: number;
  /** Expected duration of one step call (0 = unknown); used only to judge whether a deadline is reachable. */
  stepUsEstimate: number;
  /** Most chunks one step may cover (rule 5); 1 = chunk by chunk. */
  runChunksMax: number;
}

export interface LaneRef {
  requestId: string;
  candidateIndex: number;
  chunkIndex: number;
}

interface Expiries {
  /** Queued requests to fail with DEADLINE_EXCEEDED, never encoded. */
  expire: string[];
  /** Running requests whose deadline passed: stop now, report what they generated. */
  stop: string[];
}

export type Plan =
  | (Expiries & { kind: "step"; admit: string[]; numSteps: number; lanes: LaneRef[]; chunks: number })
  | (Expiries & { kind: "wait"; waitUs: number })
  | (Expiries & { kind: "idle" });

/** A running request stops at the first chunk boundary at or after its deadline. */
export function deadlinePassed(deadlineUs: number | undefined, nowUs: number): boolean {
  return deadlineUs !== undefined && deadlineUs <= nowUs;
}

export function plan(state: PlanState, nowUs: number, config: PlanConfig): Plan {
  const stop: string[] = [];
  const expire: string[] = [];
  const running = state.running.filter((r) => {
    const passed = deadlinePassed(r.deadlineUs, nowUs);
    if (passed) stop.push(r.requestId);
    return !passed;
  });
  const queued = state.queued.filter((q) => {
    const unreachable = q.deadlineUs !== undefined && q.deadlineUs <= nowUs + config.stepUsEstimate;
    if (unreachable) expire.push(q.requestId);
    return !unreachable;
  });

  if (running.length === 0 && queued.length === 0) return { kind: "idle", expire, stop };
  if (running.length === 0) {
    const waitUs = companyWaitUs(queued, nowUs, config, state.draining || companyUnlikely(state.arrivalGapUs, config.queueDelayUs));
    if (waitUs > 0) return { kind: "wait", waitUs, expire, stop };
  }
  const admitted = admit(running, queued, config.batchLanesMax);
  const chosen = chooseLanes(running, admitted, config.batchLanesMax);
  return { kind: "step", expire, stop, ...chosen, chunks: runChunks(running, admitted, chosen.numSteps, config.runChunksMax) };
}

/** Rule 5: how many chunks the step may cover; 1 unless every request in play steps in it. */
function runChunks(running: readonly RunningView[], admitted: readonly QueuedView[], numSteps: number, runChunksMax: number): number {
  let chunks = Math.max(1, Math.floor(runChunksMax));
  for (const r of running) {
    if (r.numSteps !== numSteps || r.chunkwise) return 1;
    chunks = Math.min(chunks, r.chunkCount - r.nextChunk);
  }
  for (const q of admitted) {
    if (q.numSteps !== numSteps || q.chunkwise) return 1;
    chunks = Math.min(chunks, q.chunkCount);
  }
  return chunks;
}

function laneCount(views: readonly { candidates: readonly number[] }[]): number {
  return views.reduce((n, v) => n + v.candidates.length, 0);
}

/** Rule 2: nobody is expected within the whole wait. */
function companyUnlikely(arrivalGapUs: number | undefined, queueDelayUs: number): boolean {
  return arrivalGapUs !== undefined && arrivalGapUs > queueDelayUs;
}

/** How long a lone, small queue should wait for company; 0 = go now. Only called with nothing running. */
function companyWaitUs(queued: readonly QueuedView[], nowUs: number, config: PlanConfig, goNow: boolean): number {
  if (goNow || laneCount(queued) >= config.batchLanesMax) return 0;
  const oldestUs = Math.min(...queued.map((q) => q.enqueuedUs));
  const goUs = oldestUs + config.queueDelayUs;
  const deadlineAtRisk = queued.some((q) => q.deadlineUs !== undefined && q.deadlineUs - config.stepUsEstimate <= goUs);
  if (deadlineAtRisk) return 0;
  return Math.max(0, goUs - nowUs);
}

interface Holder {
  lanes: number;
  chunksLeft: number;
}

interface Reservation {
  /** Chunks until enough lanes are free for the blocked head. */
  shadowChunks: number;
  /** Lanes free at that point beyond what the head needs: long backfills may use these. */
  extraLanes: number;
}

function reserve(needLanes: number, freeLanes: number, holders: Holder[]): Reservation {
  const sorted = [...holders].sort((a, b) => a.chunksLeft - b.chunksLeft);
  let available = freeLanes;
  for (let i = 0; i < sorted.length; i++) {
    available += sorted[i]!.lanes;
    const sameBoundary = i + 1 < sorted.length && sorted[i + 1]!.chunksLeft === sorted[i]!.chunksLeft;
    if (available >= needLanes && !sameBoundary) return { shadowChunks: sorted[i]!.chunksLeft, extraLanes: available - needLanes };
  }
  assert(false, `a ${needLanes}-lane request can never fit: admission must cap K at batchLanesMax`);
}

function admit(running: readonly RunningView[], queued: readonly QueuedView[], batchLanesMax: number): QueuedView[] {
  let freeLanes = batchLanesMax - laneCount(running);
  assert(freeLanes >= 0, `running lanes exceed batchLanesMax ${batchLanesMax}`);
  const holders: Holder[] = running.map((r) => ({ lanes: r.candidates.length, chunksLeft: r.chunkCount - r.nextChunk }));
  const admitted: QueuedView[] = [];
  let head: Reservation | undefined;
  for (const q of queued) {
    const lanes = q.candidates.length;
    assert(lanes >= 1 && lanes <= batchLanesMax, `queued request ${q.requestId} has ${lanes} lanes, outside 1..${batchLanesMax}`);
    if (head === undefined) {
      if (lanes <= freeLanes) {
        admitted.push(q);
        freeLanes -= lanes;
        holders.push({ lanes, chunksLeft: q.chunkCount });
      } else {
        head = reserve(lanes, freeLanes, holders);
      }
      continue;
    }
    if (lanes > freeLanes) continue;
    const doneBeforeHead = q.chunkCount <= head.shadowChunks;
    if (!doneBeforeHead && lanes > head.extraLanes) continue;
    admitted.push(q);
    freeLanes -= lanes;
    if (!doneBeforeHead) head.extraLanes -= lanes;
  }
  return admitted;
}

function chooseLanes(running: readonly RunningView[], admitted: readonly QueuedView[], batchLanesMax: number) {
  const candidates = [...running, ...admitted.map((q) => ({ ...q, nextChunk: 0 }))];
  assert(candidates.length > 0, "a step needs at least one running or admitted request");
  let first = candidates[0]!;
  for (const c of candidates) if (c.readySeq < first.readySeq) first = c;
  const lanes: LaneRef[] = [];
  for (const c of candidates) {
    if (c.numSteps !== first.numSteps) continue;
    for (const candidateIndex of c.candidates) lanes.push({ requestId: c.requestId, candidateIndex, chunkIndex: c.nextChunk });
  }
  assert(lanes.length >= 1 && lanes.length <= batchLanesMax, `step of ${lanes.length} lanes outside 1..${batchLanesMax}`);
  return { admit: admitted.map((q) => q.requestId), numSteps: first.numSteps, lanes };
}
