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
//  3a. Priority classes. Interactive requests are admitted first, into the whole batch as if no batch
//     lane were there: batch lanes are preemptible. Batch requests fill what interactive leaves: running
//     batch requests stay in play oldest first while they fit, the rest are *paused* (their lanes keep
//     their state but do not step), and no queued batch request is admitted while one is paused. So an
//     interactive arrival's first chunk starts at the next chunk boundary however much batch work runs.
//     While interactive work is in play, batch lanes are further capped by batchLanesBesideInteractive
//     (0 on a CPU, where a batch lane in the step would slow the interactive lanes as much as its own).
//     Paused lanes may hold at most pausedLanesMax states; beyond that the least advanced paused
//     requests are *evicted* (states released; the loop recomputes them from the start frame later,
//     delivering and billing none of the recomputed chunks twice).
//  3c. Shorter batch chunks near interactive work. A chunk in flight cannot be interrupted, so an
//     interactive arrival waits up to one whole batch chunk, and on a CPU a chunk's time grows with its
//     lanes. While an interactive request arrived within interactiveNearUs (a control loop is active
//     between its decisions), batch lanes in play are capped by batchLanesNearInteractive, so the next
//     decision waits at most a chunk of that many lanes. The cap never stops batch work outright: when
//     no batch request fits under it, the oldest one in play (or first in turn to be admitted) runs
//     at full capacity. Time passing ends the window without an event, so a run already going when
//     it ends finishes its chunks before the next plan gives batch work the whole batch (rule 5).
//  3b. Fair share. Within a class, admission considers customers in turns by lane-chunks served
//     (plan-admit.ts fairOrder), so one customer's burst cannot monopolise the runner.
//  4. Grouping. Lanes in one step call share numSteps. The group is that of the request that has
//     waited longest since it was last served (lowest readySeq: a queued request's arrival order, a
//     running one's last step). Groups therefore take turns, and a newcomer with a different numSteps
//     still runs its first chunk at the next boundary. Every live lane in play of the chosen group steps.
//     When interactive work is in play the group is an interactive request's.
//  5. Runs. When every running and admitted request shares the chosen numSteps, the batch cannot change
//     before the first of them finishes unless something happens (an arrival, a cancel, a deadline, a
//     consumer falling behind) — and the loop interrupts a run at the next boundary when it does. So the
//     step may cover `chunks` = the fewest chunks any of them has left (capped by runChunksMax): the
//     executor runs them back to back without a round trip per chunk. A queued request that does not
//     fit waits for lanes that free only when a request finishes, i.e. at the end of the run anyway.
//     A chunkwise request (its consumer prunes lanes after each chunk) keeps the step to one chunk.
import { assert } from "../core/assert";
import { admit, fairOrder, laneCount } from "./plan-admit";
import type { Priority } from "./request";

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
  /** Default "interactive". */
  priority?: Priority;
  /** Default "". */
  customerId?: string;
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
  priority?: Priority;
  customerId?: string;
  /** Whether its lanes hold executor state (false once evicted: it resumes from chunk 0). Default true. */
  holdsState?: boolean;
}

export interface PlanState {
  /** Oldest first. */
  queued: readonly QueuedView[];
  /** Admission order. */
  running: readonly RunningView[];
  draining: boolean;
  /** Gap between the two most recent arrivals (µs); undefined until two requests have arrived. */
  arrivalGapUs?: number;
  /** Lane-chunks served per customer id, per class: fair share (rule 3b). */
  served?: Readonly<Partial<Record<Priority, ReadonlyMap<string, number>>>>;
  /** When the latest interactive request arrived (µs); undefined if none has (rule 3c). */
  lastInteractiveUs?: number;
}

export interface PlanConfig {
  batchLanesMax: number;
  queueDelayUs: number;
  /** Expected duration of one step call (0 = unknown); used only to judge whether a deadline is reachable. */
  stepUsEstimate: number;
  /** Most chunks one step may cover (rule 5); 1 = chunk by chunk. */
  runChunksMax: number;
  /** Paused batch lanes that may keep their state (rule 3a); default unbounded. */
  pausedLanesMax?: number;
  /**
   * Batch lanes that may step while interactive work is in play (rule 3a); default batchLanesMax. On
   * an accelerator, free lanes of a step cost little, so batch work fills them; on a CPU every lane
   * costs as much as the interactive ones, so 0 keeps an interactive decision as fast as when alone.
   */
  batchLanesBesideInteractive?: number;
  /**
   * Batch lanes in play while interactive work is near (rule 3c: an interactive arrival within
   * interactiveNearUs, none in play now); default batchLanesMax (no cap).
   */
  batchLanesNearInteractive?: number;
  /** How long after an interactive arrival rule 3c applies (µs); default 0 (never). */
  interactiveNearUs?: number;
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
  | (Expiries & {
      kind: "step";
      admit: string[];
      numSteps: number;
      lanes: LaneRef[];
      chunks: number;
      /** Running batch requests out of play at this boundary (rule 3a), evicted ones included. */
      paused: string[];
      /** Paused requests whose states to release now; they resume later from chunk 0. */
      evict: string[];
    })
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
  const near = state.lastInteractiveUs !== undefined && nowUs - state.lastInteractiveUs < (config.interactiveNearUs ?? 0);
  return { kind: "step", expire, stop, ...inPlay(running, queued, state.served, config, near) };
}

const isBatch = (v: { priority?: Priority }): boolean => v.priority === "batch";

/** Rules 3–5 once something is to run: who is in play, who pauses or is evicted, and the step. */
function inPlay(running: readonly RunningView[], queued: readonly QueuedView[], served: PlanState["served"], config: PlanConfig, near: boolean) {
  const { batchLanesMax } = config;
  const interactiveRunning = running.filter((r) => !isBatch(r));
  const interactiveAdmitted = admit(interactiveRunning, fairOrder(queued.filter((q) => !isBatch(q)), served?.interactive), batchLanesMax, batchLanesMax);
  const interactiveLanes = laneCount(interactiveRunning) + laneCount(interactiveAdmitted);
  const batchCapacity =
    interactiveLanes > 0
      ? Math.min(batchLanesMax - interactiveLanes, config.batchLanesBesideInteractive ?? batchLanesMax)
      : near
        ? Math.min(batchLanesMax, config.batchLanesNearInteractive ?? batchLanesMax)
        : batchLanesMax;
  let batch = batchInPlay(running, queued, served, batchCapacity, batchLanesMax);
  // Rule 3c caps, it never starves: with no batch request fitting under the cap, full capacity.
  if (interactiveLanes === 0 && batch.active.length + batch.admitted.length === 0 && batchCapacity < batchLanesMax) {
    batch = batchInPlay(running, queued, served, batchLanesMax, batchLanesMax);
  }
  const { active: batchActive, paused, admitted: batchAdmitted } = batch;
  const admitted = [...interactiveAdmitted, ...batchAdmitted];
  const playing = [...interactiveRunning, ...batchActive];
  const interactiveFirst = interactiveRunning.length + interactiveAdmitted.length > 0;
  const chosen = chooseLanes(playing, admitted, batchLanesMax, interactiveFirst);
  return {
    ...chosen,
    chunks: runChunks(playing, admitted, chosen.numSteps, config.runChunksMax),
    paused: paused.map((r) => r.requestId),
    evict: evictions(paused, config.pausedLanesMax ?? Infinity),
  };
}

/** Rule 3a: running batch requests in play oldest first while they fit, the rest paused; admissions only with none paused. */
function batchInPlay(running: readonly RunningView[], queued: readonly QueuedView[], served: PlanState["served"], capacity: number, batchLanesMax: number) {
  let free = capacity;
  const active: RunningView[] = [];
  const paused: RunningView[] = [];
  for (const r of running.filter(isBatch)) {
    if (r.candidates.length <= free) {
      active.push(r);
      free -= r.candidates.length;
    } else {
      paused.push(r);
    }
  }
  const admitted = paused.length > 0 ? [] : admit(active, fairOrder(queued.filter(isBatch), served?.batch), capacity, batchLanesMax);
  return { active, paused, admitted };
}

/** Rule 3a: paused requests holding state beyond the budget, least advanced (cheapest to recompute) first. */
function evictions(paused: readonly RunningView[], pausedLanesMax: number): string[] {
  const holding = paused.filter((r) => r.holdsState !== false);
  let lanes = laneCount(holding);
  const evict: string[] = [];
  // Ties: the later admitted (end of the running list) goes first, so the oldest keeps its progress.
  const order = holding.map((r, i) => ({ r, i })).sort((a, b) => a.r.nextChunk - b.r.nextChunk || b.i - a.i);
  for (const { r } of order) {
    if (lanes <= pausedLanesMax) break;
    evict.push(r.requestId);
    lanes -= r.candidates.length;
  }
  return evict;
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

function chooseLanes(running: readonly RunningView[], admitted: readonly QueuedView[], batchLanesMax: number, interactiveFirst: boolean) {
  const candidates = [...running, ...admitted.map((q) => ({ ...q, nextChunk: 0 }))];
  assert(candidates.length > 0, "a step needs at least one running or admitted request");
  const leaders = interactiveFirst ? candidates.filter((c) => !isBatch(c)) : candidates;
  let first = leaders[0]!;
  for (const c of leaders) if (c.readySeq < first.readySeq) first = c;
  const lanes: LaneRef[] = [];
  for (const c of candidates) {
    if (c.numSteps !== first.numSteps) continue;
    for (const candidateIndex of c.candidates) lanes.push({ requestId: c.requestId, candidateIndex, chunkIndex: c.nextChunk });
  }
  assert(lanes.length >= 1 && lanes.length <= batchLanesMax, `step of ${lanes.length} lanes outside 1..${batchLanesMax}`);
  return { admit: admitted.map((q) => q.requestId), numSteps: first.numSteps, lanes };
}
