// The scheduler loop for one model: owns the queue and the running set, asks plan() what to do at each
// chunk boundary, and drives the Executor (encode admitted requests, then one step call). One loop per
// executor, and the loop awaits each call before planning the next, so an executor never sees two
// calls at once. Running requests are mutated only here; cancel() and consumers only *mark* lanes,
// and the loop applies the marks at the next boundary.
import { assert } from "../core/assert";
import { systemClock, type Clock } from "../core/clock";
import { invalidArgument, type ServiceError } from "../core/errors";
import { limits } from "../core/limits";
import { chunkActions, firstFrameIndexOf, framesInChunk, laneFrameViews, runActions } from "./chunks";
import type { EncodeItem, Executor, GoalItem, ModelGeometry, ScorerKind, StepBatch, StepResult, StepRun } from "./executor";
import { FairShare } from "./fair-share";
import { consumerError, customerQueueFullError, deadlinePassedError, drainingError, engineFailure, expiredError, queueFullError } from "./failures";
import { deadlinePassed, plan, type Plan, type PlanConfig, type PlanState } from "./plan";
import { RequestQueue } from "./queue";
import { validateSubmit, type ChunkEvent, type ChunkLane, type EndReason, type RequestSink, type SubmitRequest } from "./request";
import { RequestState, type LaneState } from "./request-state";
import { emptyEnded, type SchedulerStats } from "./stats";
import { realTimer, type Timer } from "./timer";

export interface ModelSchedulerOptions {
  executor: Executor;
  /** Most lanes per step call, and most lanes holding executor state at once (catalog batchLanesMax). */
  batchLanesMax: number;
  /** How long a lone request waits for company when nothing is running (catalog queueDelayUs). */
  queueDelayUs: number;
  /** Model slug, for error messages. */
  model?: string;
  clock?: Clock;
  timer?: Timer;
  /** Queue bounds; default and ceiling are limits.queueRequestsMax / limits.queueLanesMax. */
  queueRequestsMax?: number;
  queueLanesMax?: number;
  /** Candidates one customer may have waiting (default and ceiling limits.queueLanesPerCustomerMax). */
  queueLanesPerCustomerMax?: number;
  /** Batch lanes that may step beside interactive ones (plan.ts PlanConfig; default batchLanesMax). */
  batchLanesBesideInteractive?: number;
  /** Batch lanes in play soon after an interactive arrival (plan.ts rule 3c; default batchLanesMax = no cap). */
  batchLanesNearInteractive?: number;
  /** How long after an interactive arrival rule 3c applies (default limits.interactiveNearUs). */
  interactiveNearUs?: number;
  /** State bytes paused batch lanes may keep before evictions (default and ceiling limits.pausedStateBytesMax). */
  pausedStateBytesMax?: number;
  /** Unsettled onChunk promises a request may have before it is cancelled (default limits.streamBufferedChunksMax). */
  bufferedChunksMax?: number;
  /** Retry hint on UNAVAILABLE (queue full, draining). Default 1 s. */
  retryAfterS?: number;
  /** Step duration to assume before any step has been measured (default 0 = only passed deadlines expire). */
  stepUsEstimate?: number;
  /** Called with the lane count of every chunk stepped: the engine batch size, for status windows. */
  onStep?: (lanes: number) => void;
  /**
   * Most chunks one executor call may run back to back (plan.ts rule 5), when the executor has stepRun;
   * default and ceiling limits.runChunksMax. 1 = a round trip per chunk, as executors without stepRun.
   */
  runChunksMax?: number;
}

export type CancelResult =
  | { known: false }
  | {
      known: true;
      /** Candidates cancelled by this or an earlier call (those running stop at the next chunk boundary). */
      cancelled: number[];
      stillRunning: number[];
    };

type StepPlan = Extract<Plan, { kind: "step" }>;

interface SteppedLane {
  request: RequestState;
  lane: LaneState;
}

/** Smoothing of the measured step duration: new = old + (measured - old) / 5. */
const STEP_ESTIMATE_GAIN = 0.2;


export class ModelScheduler {
  private readonly executor: Executor;
  private readonly geometry: ModelGeometry;
  private readonly frameBytes: number;
  private readonly clock: Clock;
  private readonly timer: Timer;
  private readonly model: string;
  private readonly batchLanesMax: number;
  private readonly queueDelayUs: number;
  private readonly bufferedChunksMax: number;
  private readonly retryAfterS: number;
  private stepUsEstimate: number;
  private readonly onStep: ((lanes: number) => void) | undefined;
  private readonly runChunksMax: number;
  private readonly pausedStateBytesMax: number;
  private readonly batchLanesBesideInteractive: number;
  private readonly batchLanesNearInteractive: number;
  private readonly interactiveNearUs: number;
  private lastInteractiveUs: number | undefined;
  private readonly fairShare = new FairShare();
  /** Running batch requests out of play at the last boundary (plan.ts rule 3a). */
  private paused: readonly string[] = [];
  private lastArrivalUs: number | undefined;
  private arrivalGapUs: number | undefined;
  /** A stepRun is in flight: kick() interrupts it at the next chunk boundary. */
  private inRun = false;

  private readonly queue: RequestQueue;
  /** Admitted and not ended, in admission order. */
  private readonly running = new Map<string, RequestState>();
  /** Queued or running: the ids cancel() and submit() look up. */
  private readonly live = new Map<string, RequestState>();
  /** Orders arrivals and step completions; plan() serves the lowest first. */
  private seq = 0;

  private pumping = false;
  private pumpScheduled = false;
  private kicked = false;
  private busy = false;
  private disarmTimer: (() => void) | undefined;
  private draining = false;
  private drainWaiters: (() => void)[] = [];

  private readonly counters = {
    lastBatchLanes: 0,
    chunksStepped: 0,
    laneChunksStepped: 0,
    encodeCalls: 0,
    evictions: 0,
    replayedLaneChunks: 0,
    sinkErrors: 0,
    ended: emptyEnded(),
  };

  constructor(options: ModelSchedulerOptions) {
    this.executor = options.executor;
    this.geometry = options.executor.geometry;
    const g = this.geometry;
    for (const [name, value] of Object.entries({ height: g.height, width: g.width, actionDim: g.actionDim, chunkSize: g.chunkSize })) {
      assert(Number.isSafeInteger(value) && value >= 1, `executor geometry ${name} must be a positive integer, got ${value}`);
    }
    this.frameBytes = g.height * g.width * 3;
    this.clock = options.clock ?? systemClock;
    this.timer = options.timer ?? realTimer;
    this.model = options.model ?? "model";
    this.batchLanesMax = options.batchLanesMax;
    assert(Number.isSafeInteger(this.batchLanesMax) && this.batchLanesMax >= 1 && this.batchLanesMax <= limits.batchLanesMax, `batchLanesMax must be 1..${limits.batchLanesMax}`);
    this.queueDelayUs = options.queueDelayUs;
    assert(Number.isFinite(this.queueDelayUs) && this.queueDelayUs >= 0 && this.queueDelayUs <= limits.queueDelayUsMax, `queueDelayUs must be 0..${limits.queueDelayUsMax}`);
    this.bufferedChunksMax = options.bufferedChunksMax ?? limits.streamBufferedChunksMax;
    assert(Number.isSafeInteger(this.bufferedChunksMax) && this.bufferedChunksMax >= 1, "bufferedChunksMax must be a positive integer");
    this.retryAfterS = options.retryAfterS ?? 1;
    assert(Number.isFinite(this.retryAfterS) && this.retryAfterS >= 0, "retryAfterS must be non-negative");
    this.stepUsEstimate = options.stepUsEstimate ?? 0;
    assert(Number.isFinite(this.stepUsEstimate) && this.stepUsEstimate >= 0, "stepUsEstimate must be non-negative");
    this.queue = new RequestQueue(options.queueRequestsMax, options.queueLanesMax, options.queueLanesPerCustomerMax);
    this.batchLanesBesideInteractive = options.batchLanesBesideInteractive ?? this.batchLanesMax;
    assert(Number.isSafeInteger(this.batchLanesBesideInteractive) && this.batchLanesBesideInteractive >= 0, "batchLanesBesideInteractive must be a non-negative integer");
    this.batchLanesNearInteractive = options.batchLanesNearInteractive ?? this.batchLanesMax;
    assert(Number.isSafeInteger(this.batchLanesNearInteractive) && this.batchLanesNearInteractive >= 1, "batchLanesNearInteractive must be a positive integer");
    this.interactiveNearUs = options.interactiveNearUs ?? limits.interactiveNearUs;
    assert(Number.isFinite(this.interactiveNearUs) && this.interactiveNearUs >= 0, "interactiveNearUs must be non-negative");
    this.pausedStateBytesMax = Math.min(options.pausedStateBytesMax ?? limits.pausedStateBytesMax, limits.pausedStateBytesMax);
    assert(Number.isSafeInteger(this.pausedStateBytesMax) && this.pausedStateBytesMax >= 0, `pausedStateBytesMax must be 0..${limits.pausedStateBytesMax}`);
    this.onStep = options.onStep;
    this.runChunksMax = this.executor.stepRun === undefined ? 1 : Math.min(options.runChunksMax ?? limits.runChunksMax, limits.runChunksMax);
    assert(Number.isSafeInteger(this.runChunksMax) && this.runChunksMax >= 1, `runChunksMax must be 1..${limits.runChunksMax}`);
  }

  /**
   * Queue a request. Throws ServiceError: UNAVAILABLE (draining, or queue full — with retryAfterS),
   * INVALID_ARGUMENT (shape, K over batchLanesMax, a request id already queued or running).
   * Results go to `sink`; nothing is called on it synchronously.
   */
  submit(request: SubmitRequest, sink: RequestSink): void {
    if (this.draining) throw drainingError(this.model, this.retryAfterS);
    const actionSteps = validateSubmit(request, this.geometry, this.batchLanesMax);
    if (request.score !== undefined && this.executor.scorers?.[request.score.scorer] === undefined) {
      const known = Object.keys(this.executor.scorers ?? {});
      throw invalidArgument("cost.scorer", `${this.model} has no scorer ${JSON.stringify(request.score.scorer.slice(0, 64))}; it has ${known.length ? known.join(", ") : "none"}`);
    }
    if (this.live.has(request.requestId)) {
      throw invalidArgument("request_id", "a request with this id is already queued or running", { requestId: request.requestId });
    }
    if (!this.queue.fits(request.lanes.length)) {
      const queued = { requests: this.queue.requests, lanes: this.queue.lanes, requestsMax: this.queue.requestsMax, lanesMax: this.queue.lanesMax };
      throw queueFullError(this.model, queued, this.retryAfterS);
    }
    const customerId = request.customerId ?? "";
    if (!this.queue.fitsCustomer(customerId, request.lanes.length)) {
      throw customerQueueFullError(this.model, { lanes: this.queue.lanesOf(customerId), lanesMax: this.queue.lanesPerCustomerMax }, this.retryAfterS);
    }
    const nowUs = this.clock.nowUs();
    this.observeArrival(nowUs);
    const state = new RequestState(request, sink, actionSteps, this.geometry.chunkSize, nowUs, ++this.seq);
    if (state.priority !== "batch") this.lastInteractiveUs = nowUs;
    this.queue.push(state);
    this.live.set(state.requestId, state);
    this.fairShare.activate(state.priority, state.customerId);
    this.kick();
  }

  /**
   * Cancel a whole request (no indices, or an empty list) or some of its candidates. A queued request
   * is dropped at once (onEnd may run before this returns); running lanes stop at the next chunk
   * boundary and keep the frames they generated. A lane whose in-flight chunk was its last completes.
   * Throws INVALID_ARGUMENT for a candidate index outside 0..K-1.
   */
  cancel(requestId: string, candidateIndices?: readonly number[]): CancelResult {
    const request = this.live.get(requestId);
    if (request === undefined) return { known: false };
    const k = request.lanes.length;
    const targets = candidateIndices === undefined || candidateIndices.length === 0 ? request.lanes.map((l) => l.candidateIndex) : candidateIndices;
    for (const c of targets) {
      if (!Number.isSafeInteger(c) || c < 0 || c >= k) throw invalidArgument("candidate_indices", `expected indices in 0..${k - 1}, got ${c}`, { candidates: k });
    }
    for (const c of targets) {
      const lane = request.lanes[c]!;
      // A queued lane holds no executor state, so it is simply gone; a running one stops at a boundary.
      if (lane.status === "live") lane.status = request.phase === "queued" ? "cancelled" : "cancelling";
    }
    const result: CancelResult = {
      known: true,
      cancelled: request.candidatesWith("cancelling", "cancelled"),
      stillRunning: request.candidatesWith("live"),
    };
    if (request.phase === "queued" && request.liveLaneCount === 0) this.end(request, "cancelled");
    this.kick();
    return result;
  }

  /** The scorers the executor loaded with the model, by name (empty: this model cannot score). */
  get scorers(): Readonly<Record<string, ScorerKind>> {
    return this.executor.scorers ?? {};
  }

  /**
   * Keep a goal in the executor for requests that score against it (SubmitRequest.score.goalKey).
   * Goals are the caller's to release; the executor survives none of them past releaseGoal.
   */
  async setGoal(goal: GoalItem): Promise<void> {
    if (this.executor.setGoal === undefined) throw invalidArgument("cost.scorer", `${this.model} cannot score: its executor keeps no goals`);
    const call = this.executor.setGoal(goal);
    // The executor takes calls in order: without this a plan's goal waited behind the whole run in
    // flight (up to 155 ms measured under batch load, on a 100 ms control period); interrupted, the
    // run stops at its next chunk boundary and the goal goes before the next run is planned.
    if (this.inRun) this.executor.interruptRun?.();
    await call;
  }

  releaseGoal(goalKeys: string[]): void {
    this.executor.releaseGoal?.(goalKeys);
  }

  /** Stop admitting (submit → UNAVAILABLE "draining"); resolves once every queued and running request has ended. */
  drain(): Promise<void> {
    this.draining = true;
    this.kick(); // a lone request waiting for company should go now: no company is coming
    return new Promise((resolve) => {
      this.drainWaiters.push(resolve);
      this.maybeFinishDrain();
    });
  }

  stats(): SchedulerStats {
    let runningLanes = 0;
    const byClass = { interactiveLanes: 0, interactiveQueuedLanes: 0, batchLanes: 0, batchQueuedLanes: 0 };
    for (const r of this.running.values()) {
      const lanes = r.candidatesWith("live", "cancelling").length;
      runningLanes += lanes;
      if (r.priority === "batch") byClass.batchLanes += lanes;
      else byClass.interactiveLanes += lanes;
    }
    for (const r of this.queue.list()) {
      if (r.priority === "batch") byClass.batchQueuedLanes += r.liveLaneCount;
      else byClass.interactiveQueuedLanes += r.liveLaneCount;
    }
    return {
      queuedRequests: this.queue.requests,
      queuedLanes: this.queue.lanes,
      runningRequests: this.running.size,
      runningLanes,
      ...byClass,
      pausedRequests: this.paused.filter((id) => this.running.has(id)).length,
      pausedLanes: this.paused.reduce((n, id) => n + (this.running.get(id)?.candidatesWith("live", "cancelling").length ?? 0), 0),
      evictions: this.counters.evictions,
      replayedLaneChunks: this.counters.replayedLaneChunks,
      busy: this.busy,
      draining: this.draining,
      lastBatchLanes: this.counters.lastBatchLanes,
      chunksStepped: this.counters.chunksStepped,
      laneChunksStepped: this.counters.laneChunksStepped,
      encodeCalls: this.counters.encodeCalls,
      stepUsEstimate: this.stepUsEstimate,
      ended: { ...this.counters.ended },
      sinkErrors: this.counters.sinkErrors,
    };
  }

  // --- the loop -------------------------------------------------------------------------------

  /** Ask for a pass of the loop. Deferred to a microtask so submit()/cancel() never call the executor. */
  private kick(): void {
    this.kicked = true;
    // Whatever kicked (an arrival, a cancel, a consumer falling behind) may change the next batch.
    if (this.inRun) this.executor.interruptRun?.();
    if (this.pumping || this.pumpScheduled) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    this.disarmTimer?.();
    this.disarmTimer = undefined;
    try {
      for (;;) {
        this.kicked = false;
        this.settleCancels();
        const decision = plan(this.planState(), this.clock.nowUs(), this.planConfig());
        this.applyDeadlines(decision);
        if (decision.kind === "step") {
          await this.runStep(decision);
          continue;
        }
        if (this.kicked) continue; // a sink submitted or cancelled while we ended requests: look again
        if (decision.kind === "wait") {
          this.disarmTimer = this.timer.after(decision.waitUs, () => {
            this.disarmTimer = undefined;
            this.kick();
          });
        }
        break;
      }
    } finally {
      this.pumping = false;
    }
    this.maybeFinishDrain();
  }

  private planConfig(): PlanConfig {
    // A runner that does not say how large a lane's state is gets one frame's worth assumed.
    const stateBytes = this.executor.stateBytesPerLane || this.frameBytes;
    const pausedLanesMax = Math.floor(this.pausedStateBytesMax / stateBytes);
    return { batchLanesMax: this.batchLanesMax, queueDelayUs: this.queueDelayUs, stepUsEstimate: this.stepUsEstimate, runChunksMax: this.runChunksMax, pausedLanesMax, batchLanesBesideInteractive: this.batchLanesBesideInteractive, batchLanesNearInteractive: this.batchLanesNearInteractive, interactiveNearUs: this.interactiveNearUs };
  }

  private planState(): PlanState {
    const queued = this.queue.list().map((r) => ({
      requestId: r.requestId,
      candidates: r.candidatesWith("live"),
      chunkCount: r.chunkCount,
      numSteps: r.numSteps,
      enqueuedUs: r.enqueuedUs,
      deadlineUs: r.deadlineUs,
      readySeq: r.readySeq,
      chunkwise: r.chunkwise,
      priority: r.priority,
      customerId: r.customerId,
    }));
    const running = [...this.running.values()].map((r) => {
      const candidates = r.candidatesWith("live");
      assert(candidates.length > 0 && r.nextChunk < r.chunkCount, `running request ${r.requestId} has nothing left to run`);
      return {
        requestId: r.requestId,
        candidates,
        nextChunk: r.nextChunk,
        chunkCount: r.chunkCount,
        numSteps: r.numSteps,
        deadlineUs: r.deadlineUs,
        readySeq: r.readySeq,
        chunkwise: r.chunkwise,
        priority: r.priority,
        customerId: r.customerId,
        holdsState: r.holdsState,
      };
    });
    return {
      queued,
      running,
      draining: this.draining,
      served: this.fairShare.served,
      ...(this.arrivalGapUs === undefined ? {} : { arrivalGapUs: this.arrivalGapUs }),
      ...(this.lastInteractiveUs === undefined ? {} : { lastInteractiveUs: this.lastInteractiveUs }),
    };
  }

  /** Apply cancel marks: called only between executor calls, i.e. at a chunk boundary. */
  private settleCancels(): void {
    for (const r of [...this.running.values()]) {
      const stopping = r.lanes.filter((l) => l.status === "cancelling");
      if (stopping.length === 0) continue;
      for (const l of stopping) l.status = "cancelled";
      if (r.liveLaneCount === 0) {
        this.end(r, "cancelled", r.stopError);
        continue;
      }
      const keys = stopping.filter((l) => l.stateHeld).map((l) => l.stateKey);
      for (const l of stopping) l.stateHeld = false;
      if (keys.length > 0) this.executor.release(keys);
    }
  }

  private applyDeadlines(decision: Plan): void {
    // Look each id up again: an onEnd called just before may have cancelled it.
    for (const id of decision.expire) {
      const r = this.live.get(id);
      if (r !== undefined && r.phase === "queued") this.end(r, "deadline", expiredError(id, this.clock.nowUs() - r.enqueuedUs));
    }
    for (const id of decision.stop) {
      const r = this.running.get(id);
      if (r !== undefined) this.end(r, "deadline", deadlinePassedError(id, r.nextChunk, r.chunkCount));
    }
  }

  /** plan() stops requests past their deadline; this re-applies that rule after time passed in an encode. */
  private stopPastDeadline(): void {
    const nowUs = this.clock.nowUs();
    for (const r of [...this.running.values()]) {
      if (deadlinePassed(r.deadlineUs, nowUs)) this.end(r, "deadline", deadlinePassedError(r.requestId, r.nextChunk, r.chunkCount));
    }
  }

  private async runStep(decision: StepPlan): Promise<void> {
    this.paused = decision.paused;
    this.evict(decision.evict);
    const admitted = this.admit(decision.admit);
    // Admitted requests, and evicted ones back in play, start from their start frame.
    const encodeFor = [...admitted, ...this.resuming(decision, admitted)];
    if (this.executor.stepRun !== undefined) return this.runChunks(decision, encodeFor);
    if (encodeFor.length > 0) {
      const items = this.encodeItems(encodeFor);
      this.busy = true;
      this.counters.encodeCalls++;
      try {
        await this.executor.encode(items);
      } catch (err) {
        this.failAll(encodeFor, engineFailure(err, "encode"));
        return;
      } finally {
        this.busy = false;
      }
      for (const r of encodeFor) dropStartFrame(r);
      // The end of an encode is a boundary too: apply cancels and deadlines that arrived during it.
      this.settleCancels();
      this.stopPastDeadline();
    }

    const stepped = this.lanesToStep(decision);
    if (stepped.length === 0) return;
    const batch: StepBatch = {
      numSteps: decision.numSteps,
      lanes: stepped.map(({ request: r, lane }) => {
        assert(r.numSteps === decision.numSteps, "lanes in one step share numSteps");
        lane.stateHeld = true;
        return {
          inStateKey: r.nextChunk === 0 ? r.encodeKey : lane.stateKey,
          outStateKey: lane.stateKey,
          actions: chunkActions(lane.actions, this.geometry.actionDim, this.geometry.chunkSize, r.nextChunk),
          guidance: r.guidance,
          seed: r.seed,
          chunkIndex: r.nextChunk,
          ...(r.scoresNextChunk ? { score: { scorer: r.score!.scorer, goalKey: r.score!.goalKey } } : {}),
        };
      }),
    };
    const requests = [...new Set(stepped.map((s) => s.request))];
    this.countStep(stepped.length);
    const startUs = this.clock.nowUs();
    let result: StepResult;
    this.busy = true;
    try {
      result = await this.executor.step(batch);
    } catch (err) {
      this.failAll(requests, engineFailure(err, "step"));
      return;
    } finally {
      this.busy = false;
    }
    this.observeStepUs(this.clock.nowUs() - startUs);
    if (typeof result?.computeUs === "number") for (const r of requests) r.computeUs += result.computeUs;
    const malformed = this.malformed(stepped, result);
    if (malformed !== undefined) {
      // Malformed output is an engine failure (the hold is voided), not a crash of the whole service.
      this.failAll(requests, engineFailure(new Error(malformed), "step"));
      return;
    }
    this.deliver(stepped, result);
  }

  /** Why a step result cannot be delivered to these lanes, or undefined when it can. */
  private malformed(stepped: readonly SteppedLane[], result: StepResult): string | undefined {
    const expectedBytes = stepped.length * this.geometry.chunkSize * this.frameBytes;
    if (!(result?.frames instanceof Uint8Array) || result.frames.length !== expectedBytes) {
      return `step returned ${result?.frames instanceof Uint8Array ? result.frames.length : "no"} frame bytes, expected ${expectedBytes}`;
    }
    const expectedCosts = stepped.length * this.geometry.chunkSize;
    if (stepped.some((s) => s.request.scoresNextChunk) && !(result.costs instanceof Float32Array && result.costs.length === expectedCosts)) {
      return `step returned ${result.costs instanceof Float32Array ? result.costs.length : "no"} costs, expected ${expectedCosts}`;
    }
    return undefined;
  }

  /**
   * The step as one executor call: the admitted requests' encodes, then decision.chunks chunks back to
   * back, each delivered as it arrives. Anything that kicks the loop meanwhile interrupts the run at
   * the next boundary (kick()), and so does the earliest running deadline (a timer), so every chunk
   * boundary still sees arrivals, cancels and deadlines as chunk-by-chunk stepping would.
   */
  private async runChunks(decision: StepPlan, admitted: readonly RequestState[]): Promise<void> {
    const stepped = this.lanesToStep(decision);
    if (stepped.length === 0) return; // every planned lane was cancelled by a sink since plan(): look again
    const { actionDim, chunkSize } = this.geometry;
    const encode = this.encodeItems(admitted);
    const laneActions = runActions(
      stepped.map(({ request, lane }) => ({ actions: lane.actions, fromChunk: request.nextChunk })),
      actionDim,
      chunkSize,
      decision.chunks,
    );
    const run: StepRun = {
      numSteps: decision.numSteps,
      chunks: decision.chunks,
      lanes: stepped.map(({ request: r, lane }, i) => {
        assert(r.numSteps === decision.numSteps, "lanes in one step share numSteps");
        lane.stateHeld = true;
        const fromChunk = r.score?.lastChunkOnly ? r.chunkCount - 1 : 0;
        const scored = r.score !== undefined && r.nextChunk + decision.chunks - 1 >= fromChunk;
        return {
          inStateKey: r.nextChunk === 0 ? r.encodeKey : lane.stateKey,
          outStateKey: lane.stateKey,
          actions: laneActions[i]!,
          guidance: r.guidance,
          seed: r.seed,
          chunkIndex: r.nextChunk,
          ...(scored ? { score: { scorer: r.score!.scorer, goalKey: r.score!.goalKey, fromChunk } } : {}),
        };
      }),
      ...(encode.length > 0 ? { encode } : {}),
    };
    const requests = [...new Set(stepped.map((s) => s.request))];
    if (encode.length > 0) this.counters.encodeCalls++;
    let delivered = 0;
    let lastUs = this.clock.nowUs();
    let broken: string | undefined;
    this.busy = true;
    this.inRun = true;
    const disarmDeadline = this.interruptAtDeadline(requests);
    if (this.kicked) this.executor.interruptRun?.(); // kicked between plan() and here
    try {
      await this.executor.stepRun!(run, (index, result) => {
        if (broken !== undefined) return;
        assert(index === delivered, `stepRun reported chunk ${index}, expected ${delivered}`);
        if (delivered === 0) for (const r of admitted) dropStartFrame(r);
        delivered++;
        const nowUs = this.clock.nowUs();
        this.observeStepUs(nowUs - lastUs);
        lastUs = nowUs;
        broken = this.malformed(stepped, result);
        if (broken !== undefined) {
          this.executor.interruptRun?.();
          return;
        }
        this.countStep(stepped.length);
        for (const r of requests) r.computeUs += result.computeUs;
        this.deliver(stepped, result);
        // A deadline passed by now stops its request at this boundary (the timer covers the worker's
        // side of it; this covers a clock that moved without the timer firing yet).
        if (this.kicked || requests.some((r) => r.phase === "running" && deadlinePassed(r.deadlineUs, this.clock.nowUs()))) this.executor.interruptRun?.();
      });
    } catch (err) {
      const encodeFailed = delivered === 0 && encode.length > 0 && (err as { details?: { encodeFailed?: unknown } })?.details?.encodeFailed === true;
      this.failAll(encodeFailed ? admitted : requests, engineFailure(err, encodeFailed ? "encode" : "step"));
      return;
    } finally {
      this.inRun = false;
      this.busy = false;
      disarmDeadline();
    }
    for (const r of admitted) dropStartFrame(r); // encoded, even when the run stopped before chunk 0
    if (broken !== undefined) this.failAll(requests, engineFailure(new Error(broken), "step"));
  }

  /** Rule 3a: release paused requests' states; they recompute from chunk 0 when back in play. */
  private evict(ids: readonly string[]): void {
    const keys: string[] = [];
    for (const id of ids) {
      const r = this.running.get(id);
      if (r === undefined) continue;
      assert(r.startFrame !== undefined, `evicting ${id}, which kept no start frame to recompute from`);
      keys.push(...r.takeHeldKeys());
      r.nextChunk = 0;
      this.counters.evictions++;
    }
    if (keys.length > 0) this.executor.release(keys);
  }

  /** Evicted requests the step puts back in play: they need their start frame encoded again. */
  private resuming(decision: StepPlan, admitted: readonly RequestState[]): RequestState[] {
    const out = new Set<RequestState>();
    for (const ref of decision.lanes) {
      const r = this.running.get(ref.requestId);
      if (r !== undefined && r.nextChunk === 0 && !r.encodeHeld && !admitted.includes(r)) out.add(r);
    }
    return [...out];
  }

  /** The admitted requests' start frames to encode; from here the executor may hold them, even if the encode fails half way. */
  private encodeItems(admitted: readonly RequestState[]): EncodeItem[] {
    return admitted.map((r) => {
      assert(r.startFrame !== undefined, "an admitted request still has its start frame");
      r.encodeHeld = true;
      return { stateKey: r.encodeKey, frame: r.startFrame };
    });
  }

  /** A timer that interrupts the run when the earliest deadline among `requests` passes. */
  private interruptAtDeadline(requests: readonly RequestState[]): () => void {
    let deadlineUs = Infinity;
    for (const r of requests) if (r.deadlineUs !== undefined) deadlineUs = Math.min(deadlineUs, r.deadlineUs);
    if (deadlineUs === Infinity) return () => {};
    return this.timer.after(Math.max(0, deadlineUs - this.clock.nowUs()), () => this.executor.interruptRun?.());
  }

  private countStep(lanes: number): void {
    this.counters.chunksStepped++;
    this.counters.laneChunksStepped += lanes;
    this.counters.lastBatchLanes = lanes;
    this.onStep?.(lanes);
  }

  private observeArrival(nowUs: number): void {
    if (this.lastArrivalUs !== undefined) this.arrivalGapUs = nowUs - this.lastArrivalUs;
    this.lastArrivalUs = nowUs;
  }

  private admit(ids: readonly string[]): RequestState[] {
    const nowUs = this.clock.nowUs();
    const admitted: RequestState[] = [];
    for (const id of ids) {
      const r = this.live.get(id);
      if (r === undefined || r.phase !== "queued") continue; // ended by a sink callback since plan()
      this.queue.remove(r);
      r.phase = "running";
      r.startUs = nowUs;
      this.running.set(id, r);
      admitted.push(r);
      this.callSink(() => r.sink.onStart?.(nowUs - r.enqueuedUs));
    }
    return admitted;
  }

  /** The plan's lanes that are still live now (a cancel during the encode may have stopped some). */
  private lanesToStep(decision: StepPlan): SteppedLane[] {
    const stepped: SteppedLane[] = [];
    for (const ref of decision.lanes) {
      const request = this.running.get(ref.requestId);
      if (request === undefined) continue;
      const lane = request.lanes[ref.candidateIndex]!;
      if (lane.status !== "live") continue;
      assert(ref.chunkIndex === request.nextChunk, `lane ${ref.requestId}/${ref.candidateIndex} planned at chunk ${ref.chunkIndex}, is at ${request.nextChunk}`);
      stepped.push({ request, lane });
    }
    assert(stepped.length <= this.batchLanesMax, "a step never exceeds batchLanesMax lanes");
    return stepped;
  }

  private deliver(stepped: readonly SteppedLane[], result: StepResult): void {
    const { chunkSize } = this.geometry;
    const { frames, costs } = result;
    const lanesByRequest = new Map<RequestState, ChunkLane[]>();
    stepped.forEach(({ request: r, lane }, batchIndex) => {
      this.fairShare.charge(r.priority, r.customerId, 1);
      if (r.replaying) {
        // Recomputing an evicted state: the frames were delivered (and billed) the first time.
        this.counters.replayedLaneChunks++;
        if (!lanesByRequest.has(r)) lanesByRequest.set(r, []);
        return;
      }
      const count = framesInChunk(r.actionSteps, chunkSize, r.nextChunk);
      lane.frames += count;
      const lanes = lanesByRequest.get(r) ?? [];
      lanes.push({
        candidateIndex: lane.candidateIndex,
        firstFrameIndex: firstFrameIndexOf(r.nextChunk, chunkSize),
        frames: laneFrameViews(frames, batchIndex, chunkSize, this.frameBytes, count),
        // The costs of a padded chunk's extra frames are dropped with the frames.
        ...(r.scoresNextChunk && costs ? { costs: costs.slice(batchIndex * chunkSize, batchIndex * chunkSize + count) } : {}),
      });
      lanesByRequest.set(r, lanes);
    });
    const released: string[] = [];
    for (const [r, lanes] of lanesByRequest) {
      const chunkIndex = r.nextChunk;
      const replay = r.replaying;
      r.nextChunk++;
      r.readySeq = ++this.seq;
      if (r.encodeHeld) {
        // Every live lane read the encoded start frame for chunk 0; nobody needs it again.
        released.push(r.encodeKey);
        r.encodeHeld = false;
      }
      if (replay) continue;
      r.deliveredChunks = r.nextChunk;
      lanes.sort((a, b) => a.candidateIndex - b.candidateIndex);
      this.deliverChunk(r, { chunkIndex, lanes });
      if (r.nextChunk === r.chunkCount) {
        // Every live or cancelling lane was in this step (a request's lanes move together): all done.
        for (const l of r.lanes) if (l.status === "live" || l.status === "cancelling") l.status = "done";
        this.end(r, "completed");
      }
    }
    if (released.length > 0) this.executor.release(released);
  }

  private deliverChunk(r: RequestState, event: ChunkEvent): void {
    let pending: void | PromiseLike<void>;
    try {
      pending = r.sink.onChunk(event);
    } catch {
      this.counters.sinkErrors++;
      this.stopForConsumer(r, "the result consumer failed");
      return;
    }
    if (typeof (pending as PromiseLike<void> | undefined)?.then !== "function") return;
    r.pendingChunks++;
    (pending as PromiseLike<void>).then(
      () => {
        r.pendingChunks--;
      },
      () => {
        r.pendingChunks--;
        this.counters.sinkErrors++;
        this.stopForConsumer(r, "the result consumer failed");
      },
    );
    if (r.pendingChunks > this.bufferedChunksMax) {
      this.stopForConsumer(r, `the result consumer fell more than ${this.bufferedChunksMax} chunks behind`);
    }
  }

  /** The scheduler never waits for a consumer; a consumer that cannot keep up loses its request instead. */
  private stopForConsumer(r: RequestState, why: string): void {
    if (r.phase !== "running") return;
    r.stopError ??= consumerError(r.requestId, why);
    for (const l of r.lanes) if (l.status === "live") l.status = "cancelling";
    this.kick();
  }

  private failAll(requests: readonly RequestState[], error: ServiceError): void {
    for (const r of requests) if (r.phase !== "ended") this.end(r, "failed", error);
  }

  private observeStepUs(measuredUs: number): void {
    this.stepUsEstimate = this.stepUsEstimate === 0 ? measuredUs : this.stepUsEstimate + (measuredUs - this.stepUsEstimate) * STEP_ESTIMATE_GAIN;
  }

  /** The single exit of every request: releases its states, reports once, and may finish a drain. */
  private end(r: RequestState, reason: EndReason, error?: ServiceError): void {
    assert(r.phase !== "ended", `request ${r.requestId} ended twice`);
    if (r.phase === "queued") this.queue.remove(r);
    else this.running.delete(r.requestId);
    this.live.delete(r.requestId);
    this.fairShare.deactivate(r.priority, r.customerId);
    r.phase = "ended";
    r.startFrame = undefined;
    const keys = r.takeHeldKeys();
    for (const l of r.lanes) if (l.status === "cancelling") l.status = "cancelled";
    if (keys.length > 0) this.executor.release(keys);
    this.counters.ended[reason]++;
    const event = {
      reason,
      framesPerCandidate: r.lanes.map((l) => l.frames),
      cancelled: r.candidatesWith("cancelled"),
      engineUs: r.startUs === undefined ? 0 : this.clock.nowUs() - r.startUs,
      computeUs: r.computeUs,
      ...(error === undefined ? {} : { error }),
    };
    this.callSink(() => r.sink.onEnd(event));
    this.maybeFinishDrain();
  }

  /** A throwing sink must not break the loop or other requests. */
  private callSink(call: () => void): void {
    try {
      call();
    } catch {
      this.counters.sinkErrors++;
    }
  }

  private maybeFinishDrain(): void {
    if (!this.draining || this.live.size > 0) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** Interactive requests drop their start frame once encoded; batch ones keep it to recompute an eviction. */
function dropStartFrame(r: RequestState): void {
  if (r.priority !== "batch") r.startFrame = undefined;
}
