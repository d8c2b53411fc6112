// Test doubles for the scheduler: an Executor that records every call and checks the contract
// (no overlapping calls, states read only while they exist, nothing leaked), a recording sink, and
// helpers to build requests and let the loop run.
import assert from "node:assert/strict";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import type { EncodeItem, Executor, GoalItem, ModelGeometry, ScorerKind, StepBatch, StepResult, StepRun } from "../../src/scheduler/executor";
import type { ChunkEvent, EndEvent, Priority, RequestSink, SubmitRequest } from "../../src/scheduler/request";

export interface RecordedStep {
  /** Index among step calls, in call order. */
  index: number;
  atUs: number;
  numSteps: number;
  lanes: { inStateKey: string; outStateKey: string; chunkIndex: number; actions: Float32Array; laneTag: number; score?: { scorer: string; goalKey: string } }[];
  outcome: "pending" | "ok" | "failed";
}

export interface RecordedEncode {
  atUs: number;
  keys: string[];
}

interface Deferred {
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * A fake executor. In auto mode every call completes on the next microtask; with `manual` step calls
 * (and with `manualEncode` encode calls) wait until the test calls finishCall()/failPendingCall(). Frames carry markers so tests can check which
 * bytes reached which lane: byte 0 = lane's position in the batch, 1 = frame within chunk, 2 = chunk.
 */
export class FakeExecutor implements Executor {
  readonly encodes: RecordedEncode[] = [];
  readonly steps: RecordedStep[] = [];
  readonly releases: string[][] = [];
  /** States the executor currently holds. */
  readonly states = new Set<string>();
  manual = false;
  manualEncode = false;
  /** Clock advance per call, to model compute time (also feeds the scheduler's step estimate). */
  stepUs = 0;
  /** Return an error to make that call reject. */
  failEncode: (items: EncodeItem[]) => unknown = () => undefined;
  failStep: (batch: StepBatch) => unknown = () => undefined;
  /** Scorers this executor offers; a scored lane's cost of frame f is laneTag + chunkIndex / 100 + f / 1000. */
  scorers: Record<string, ScorerKind> = {};
  /** Goals set and not yet released. */
  readonly goals = new Map<string, Uint8Array>();
  /** Return false to leave the costs out of a step's result (a broken executor). */
  returnCosts = true;
  /** Last frames buffer returned, to check that chunk frames are views into it. */
  lastFrames: Uint8Array | undefined;
  /**
   * Contract breaches seen (recorded, not thrown: a throw inside a call would look like an engine
   * failure to the scheduler and be handled, hiding the bug). Tests assert this stays empty.
   */
  readonly violations: string[] = [];
  private inFlight = 0;
  private pending: Deferred[] = [];

  constructor(
    readonly geometry: ModelGeometry,
    private readonly clock: FakeClock,
  ) {}

  get frameBytes(): number {
    return this.geometry.height * this.geometry.width * 3;
  }

  async encode(items: EncodeItem[]): Promise<void> {
    this.enter();
    try {
      this.encodes.push({ atUs: this.clock.nowUs(), keys: items.map((i) => i.stateKey) });
      for (const item of items) {
        if (item.frame.length !== this.frameBytes) this.violations.push(`encode of ${item.stateKey} got ${item.frame.length} bytes`);
        if (this.states.has(item.stateKey)) this.violations.push(`encode overwrites live state ${item.stateKey}`);
      }
      if (this.manualEncode) await this.waitForTest();
      else await Promise.resolve();
      const err = this.failEncode(items);
      if (err !== undefined) throw err;
      for (const item of items) this.states.add(item.stateKey);
    } finally {
      this.inFlight--;
    }
  }

  async step(batch: StepBatch): Promise<StepResult> {
    this.enter();
    const record: RecordedStep = {
      index: this.steps.length,
      atUs: this.clock.nowUs(),
      numSteps: batch.numSteps,
      lanes: batch.lanes.map((l) => ({
        inStateKey: l.inStateKey,
        outStateKey: l.outStateKey,
        chunkIndex: l.chunkIndex,
        actions: Float32Array.from(l.actions),
        laneTag: l.actions[0]!,
        ...(l.score ? { score: l.score } : {}),
      })),
      outcome: "pending",
    };
    this.steps.push(record);
    try {
      const { chunkSize, actionDim } = this.geometry;
      for (const lane of batch.lanes) {
        if (lane.actions.length !== chunkSize * actionDim) this.violations.push(`step lane ${lane.outStateKey} got ${lane.actions.length} actions`);
        if (!this.states.has(lane.inStateKey)) this.violations.push(`step reads state ${lane.inStateKey}, which does not exist`);
      }
      if (this.manual) await this.waitForTest();
      else await Promise.resolve();
      this.clock.advanceUs(this.stepUs);
      const err = this.failStep(batch);
      if (err !== undefined) throw err;
      for (const lane of batch.lanes) this.states.add(lane.outStateKey);
      const frames = new Uint8Array(batch.lanes.length * chunkSize * this.frameBytes);
      batch.lanes.forEach((lane, i) => {
        for (let f = 0; f < chunkSize; f++) {
          const at = (i * chunkSize + f) * this.frameBytes;
          frames[at] = i;
          frames[at + 1] = f;
          frames[at + 2] = lane.chunkIndex;
        }
      });
      record.outcome = "ok";
      this.lastFrames = frames;
      const costs = this.costsOf(batch);
      return costs && this.returnCosts ? { frames, computeUs: this.stepUs, costs } : { frames, computeUs: this.stepUs };
    } catch (err) {
      record.outcome = "failed";
      throw err;
    } finally {
      this.inFlight--;
    }
  }

  /** [lanes, chunkSize] when some lane asked for a score; NaN rows for those that did not. */
  private costsOf(batch: StepBatch): Float32Array | undefined {
    if (!batch.lanes.some((l) => l.score)) return undefined;
    const { chunkSize } = this.geometry;
    const costs = new Float32Array(batch.lanes.length * chunkSize).fill(NaN);
    batch.lanes.forEach((lane, i) => {
      if (!lane.score) return;
      if (this.scorers[lane.score.scorer] === undefined) this.violations.push(`lane asked for unknown scorer ${lane.score.scorer}`);
      if (!this.goals.has(lane.score.goalKey)) this.violations.push(`lane scored against goal ${lane.score.goalKey}, which is not set`);
      for (let f = 0; f < chunkSize; f++) costs[i * chunkSize + f] = lane.actions[0]! + lane.chunkIndex / 100 + f / 1000;
    });
    return costs;
  }

  async setGoal(goal: GoalItem): Promise<void> {
    this.goals.set(goal.goalKey, goal.frames);
  }

  releaseGoal(goalKeys: string[]): void {
    for (const key of goalKeys) this.goals.delete(key);
  }

  release(stateKeys: string[]): void {
    this.releases.push([...stateKeys]);
    for (const key of stateKeys) this.states.delete(key);
  }

  private waitForTest(): Promise<void> {
    return new Promise<void>((resolve, reject) => this.pending.push({ resolve, reject }));
  }

  /** Manual mode: calls waiting for the test (at most one: the scheduler never overlaps calls). */
  get pendingCalls(): number {
    return this.pending.length;
  }

  finishCall(): void {
    const next = this.pending.shift();
    assert.ok(next, "no call is waiting");
    next.resolve();
  }

  failPendingCall(err: unknown): void {
    const next = this.pending.shift();
    assert.ok(next, "no call is waiting");
    next.reject(err);
  }

  private enter(): void {
    if (this.inFlight !== 0) this.violations.push("two executor calls overlapped");
    this.inFlight++;
  }

  /** The end-of-test contract check: no breaches, and every state released. */
  assertClean(): void {
    assert.deepEqual(this.violations, []);
    assert.deepEqual([...this.states], [], "every executor state is released");
  }
}

export interface RecordedRun {
  chunks: number;
  lanes: number;
  encodes: number;
  /** Chunks it actually ran (fewer when interrupted). */
  ran: number;
}

/**
 * A FakeExecutor with stepRun: a run is its encode and then its chunks as recorded step calls (so every
 * check on `steps` holds for runs too), stopping before any later chunk once interruptRun() was called.
 */
export class RunningFakeExecutor extends FakeExecutor {
  readonly runs: RecordedRun[] = [];
  private interrupted = false;

  async stepRun(run: StepRun, onChunk: (index: number, result: StepResult) => void): Promise<number> {
    this.interrupted = false;
    const record: RecordedRun = { chunks: run.chunks, lanes: run.lanes.length, encodes: run.encode?.length ?? 0, ran: 0 };
    this.runs.push(record);
    if (run.encode !== undefined) {
      try {
        await this.encode(run.encode);
      } catch (err) {
        throw new ServiceError("ENGINE_FAILURE", `encode failed: ${String(err)}`, { encodeFailed: true });
      }
    }
    const perChunk = this.geometry.chunkSize * this.geometry.actionDim;
    for (let i = 0; i < run.chunks; i++) {
      if ((i > 0 || run.encode !== undefined) && this.interrupted) break;
      const lanes = run.lanes.map((l) => {
        if (l.actions.length !== run.chunks * perChunk) this.violations.push(`run lane ${l.outStateKey} got ${l.actions.length} actions for ${run.chunks} chunks`);
        const chunkIndex = l.chunkIndex + i;
        const { score, ...rest } = l;
        const scored = score !== undefined && chunkIndex >= (score.fromChunk ?? 0);
        return { ...rest, inStateKey: i === 0 ? l.inStateKey : l.outStateKey, actions: l.actions.subarray(i * perChunk, (i + 1) * perChunk), chunkIndex, ...(scored ? { score: { scorer: score.scorer, goalKey: score.goalKey } } : {}) };
      });
      const result = await this.step({ numSteps: run.numSteps, lanes });
      record.ran++;
      onChunk(i, result);
    }
    return record.ran;
  }

  interruptRun(): void {
    this.interrupted = true;
  }
}

export type LogEntry = string;

/** A sink that records events into a shared log (for ordering across requests) and per request. */
export class RecordingSink implements RequestSink {
  started: number[] = [];
  chunks: ChunkEvent[] = [];
  ends: EndEvent[] = [];
  /** Return value for onChunk (to model a slow consumer). */
  chunkResult: () => void | Promise<void> = () => undefined;

  constructor(
    readonly id: string,
    private readonly log: LogEntry[] = [],
  ) {}

  onStart(queueUs: number): void {
    assert.equal(this.ends.length, 0, `${this.id}: onStart after onEnd`);
    assert.equal(this.chunks.length, 0, `${this.id}: onStart after a chunk`);
    this.started.push(queueUs);
    this.log.push(`start ${this.id}`);
  }

  onChunk(event: ChunkEvent): void | Promise<void> {
    assert.equal(this.ends.length, 0, `${this.id}: onChunk after onEnd`);
    assert.equal(this.started.length, 1, `${this.id}: onChunk before onStart`);
    assert.equal(event.chunkIndex, this.chunks.length, `${this.id}: chunks arrive in order without gaps`);
    this.chunks.push(event);
    this.log.push(`chunk ${this.id} ${event.chunkIndex} [${event.lanes.map((l) => l.candidateIndex).join(",")}]`);
    return this.chunkResult();
  }

  onEnd(event: EndEvent): void {
    assert.equal(this.ends.length, 0, `${this.id}: onEnd twice`);
    this.ends.push(event);
    this.log.push(`end ${this.id} ${event.reason}`);
  }

  get end(): EndEvent {
    assert.equal(this.ends.length, 1, `${this.id}: expected exactly one onEnd`);
    return this.ends[0]!;
  }

  /** Frames delivered per candidate, counted from onChunk events. */
  deliveredFrames(k: number): number[] {
    const counts = new Array<number>(k).fill(0);
    for (const c of this.chunks) for (const l of c.lanes) counts[l.candidateIndex]! += l.frames.length;
    return counts;
  }
}

/**
 * A request whose actions tag every lane: each action vector's first value is `tagBase + candidate`,
 * so a recorded step lane can be traced back to its request and candidate without knowing state keys.
 */
export function makeRequest(
  geometry: ModelGeometry,
  requestId: string,
  opts: { k?: number; t?: number; numSteps?: number; deadlineUs?: number; tagBase?: number; seed?: bigint; chunkwise?: boolean; priority?: Priority; customerId?: string } = {},
): SubmitRequest {
  const k = opts.k ?? 1;
  const t = opts.t ?? geometry.chunkSize;
  const tagBase = opts.tagBase ?? 1000;
  const lanes = Array.from({ length: k }, (_, c) => {
    const a = new Float32Array(t * geometry.actionDim);
    for (let s = 0; s < t; s++) {
      a[s * geometry.actionDim] = tagBase + c;
      if (geometry.actionDim > 1) a[s * geometry.actionDim + 1] = s + 1; // nonzero, so padding is visible
    }
    return a;
  });
  return {
    requestId,
    lanes,
    startFrame: new Uint8Array(geometry.height * geometry.width * 3),
    numSteps: opts.numSteps ?? 4,
    guidance: 1.5,
    seed: opts.seed ?? 7n,
    ...(opts.deadlineUs === undefined ? {} : { deadlineUs: opts.deadlineUs }),
    ...(opts.chunkwise ? { chunkwise: true } : {}),
    ...(opts.priority ? { priority: opts.priority } : {}),
    ...(opts.customerId !== undefined ? { customerId: opts.customerId } : {}),
  };
}

/** Let every microtask and resolved promise run (the loop works entirely in microtasks under fakes). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
