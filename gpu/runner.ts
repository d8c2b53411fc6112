// OrtRunner: the Executor the scheduler drives, backed by one worker thread (gpu/worker.ts) that owns
// the ORT sessions and the latent states. Calls are serialized here (one encode/step in flight), so a
// step's timeout measures its execution, not its wait.
//
// Isolation: a step that throws in the worker rejects with ENGINE_FAILURE and the worker lives on. A
// worker that exits, crashes, or runs a call past chunkTimeoutMs is terminated; every pending call
// rejects with ENGINE_FAILURE (all latent states are gone with it), and a fresh worker is loaded and
// warmed automatically, so the next call succeeds. More than limits.runnerRestartsPerMinuteMax
// restarts in a minute, or a failed reload, leaves the runner "failed".
import type { Worker } from "node:worker_threads";
import { assert } from "../src/core/assert";
import { systemClock, type Clock } from "../src/core/clock";
import { ServiceError } from "../src/core/errors";
import { limits } from "../src/core/limits";
import { startModuleWorker } from "../src/core/ts-worker";
import type { CatalogEntry } from "../src/config/catalog";
import type { EncodeItem, Executor, GoalItem, ModelGeometry, ScorerKind, StepBatch, StepResult, StepRun } from "../src/scheduler/executor";
import { checkExecutionProvider, formatExecutionProvider, parseExecutionProvider } from "./ep";
import { WORKER_EXIT_LIFELINE, WORKER_KIND, type FaultKind, type Reply, type Request, type Status, type WireError, type WorkerInit } from "./protocol";

export type RunnerState = "loading" | "idle" | "busy" | "restarting" | "failed";

export interface RunnerOptions {
  modelDir: string;
  entry: CatalogEntry;
  /** "cpu" (default), "cuda" or "cuda:N"; CUDA without its libraries fails load() at once. */
  executionProvider?: string;
  intraOpThreads?: number;
  /** Let ORT's intra-op threads spin between parallel sections (default off: gpu/sessions.ts createSession). */
  spinning?: boolean;
  /** A single encode or step running longer than this is treated as a hung worker. */
  chunkTimeoutMs: number;
  /** Budget for creating + warming the sessions of one worker. Default 5 minutes. */
  loadTimeoutMs?: number;
  /** Restarts allowed in any minute before the runner gives up ("failed"); default and cap: limits.runnerRestartsPerMinuteMax. */
  restartsPerMinuteMax?: number;
  /**
   * Lanes of the warm-up step; default: the entry's batchLanesMax. ORT's CPU arena grows on the first
   * run of a bigger batch than it has seen (about +25% on that chunk at 480p), so warming at the largest
   * batch means no real request pays for it.
   */
  warmLanes?: number;
  onStateChange?: (state: RunnerState, detail: { reason?: string; restarts: number }) => void;
  clock?: Clock;
}

export interface InjectedFault {
  kind: FaultKind;
  /** Which later step fires it: 0 (default) = the next step, 1 = the one after, ... */
  atStep?: number;
}

interface Pending {
  req: Request;
  /** Release messages expect no reply; they only keep their place in the order. */
  awaitsReply: boolean;
  resolve(reply: Reply): void;
  reject(err: unknown): void;
  /** A run's per-chunk replies, before its final one. */
  onChunk?(reply: ChunkReply): void;
}

type ChunkReply = Extract<Reply, { chunk: number }>;

export class OrtRunner implements Executor {
  readonly geometry: ModelGeometry;
  private readonly ep: string;
  private _state: RunnerState = "loading";
  private _restarts = 0;
  private _chunks = 0;
  private _statesLost = 0;
  private _lastFailure: string | undefined;
  private worker: Worker | null = null;
  private ready = false;
  private closed = false;
  private loadPromise: Promise<void> | null = null;
  /** Aborts a worker that is still loading (close() during load or restart). */
  private abortLoad: (() => void) | null = null;
  private readonly queue: Pending[] = [];
  private inflight: { pending: Pending; timer: NodeJS.Timeout } | null = null;
  private nextId = 1;
  /** Keys the worker holds, tracked here so a crash can say how many states it took with it. */
  private readonly liveKeys = new Set<string>();
  private readonly restartTimesMs: number[] = [];
  private readonly clock: Clock;
  private _scorers: Readonly<Record<string, ScorerKind>> = Object.freeze({});
  private _stateBytesPerLane = 0;
  /**
   * Goals set and not released, kept here as well as in the worker: a goal is a few frames, and
   * replaying them into a restarted worker means a crash costs the latent states but not the goals.
   */
  private readonly goals = new Map<string, { frames: Uint8Array; count: number }>();
  /** Shared with every worker this runner starts (WorkerInit.interrupt). */
  private readonly interrupt = new Int32Array(new SharedArrayBuffer(4));
  /** The request id of the run in flight or queued, for interruptRun(). */
  private runId = 0;
  /** Each worker's own lifeline (WorkerInit.lifeline): set, the worker exits at its next JavaScript step. */
  private readonly lifelines = new WeakMap<Worker, Int32Array>();

  constructor(private readonly opts: RunnerOptions) {
    assert(opts.chunkTimeoutMs > 0 && opts.chunkTimeoutMs <= limits.chunkTimeoutMsMax, `chunkTimeoutMs must be in (0, ${limits.chunkTimeoutMsMax}]`);
    const [height, width] = opts.entry.resolution;
    this.geometry = Object.freeze({ height, width, actionDim: opts.entry.actionDim, chunkSize: opts.entry.chunkSize });
    this.ep = formatExecutionProvider(parseExecutionProvider(opts.executionProvider)); // a bad string throws here
    this.clock = opts.clock ?? systemClock;
  }

  get state(): RunnerState {
    return this._state;
  }
  get restarts(): number {
    return this._restarts;
  }
  get chunksExecuted(): number {
    return this._chunks;
  }
  /** Latent states dropped by worker failures since start. */
  get statesLost(): number {
    return this._statesLost;
  }
  get lastFailure(): string | undefined {
    return this._lastFailure;
  }
  /** One lane's latent state in the worker (float32 latent); 0 until load() resolves. */
  get stateBytesPerLane(): number {
    return this._stateBytesPerLane;
  }
  /** The scorers the worker loaded (catalog `scorers`), by name; empty until load() resolves. */
  get scorers(): Readonly<Record<string, ScorerKind>> {
    return this._scorers;
  }

  /** Creates the sessions in a worker and warms them. Rejects (and the runner is "failed") if the model cannot load. */
  load(): Promise<void> {
    if (this.loadPromise === null) {
      this.loadPromise = (async () => {
        checkExecutionProvider(parseExecutionProvider(this.ep)); // fail fast, before spawning anything
        await this.startWorker();
      })().catch((err: unknown) => {
        this._lastFailure = err instanceof Error ? err.message : String(err);
        this.setState("failed", this._lastFailure);
        throw err;
      });
    }
    return this.loadPromise;
  }

  async encode(items: EncodeItem[]): Promise<void> {
    const frameBytes = this.geometry.height * this.geometry.width * 3;
    assert(items.length > 0, "encode needs at least one frame");
    for (const it of items) assert(it.frame.length === frameBytes, `encode ${it.stateKey}: ${it.frame.length} bytes, expected ${frameBytes}`);
    await this.call({ id: 0, op: "encode", items });
    for (const it of items) this.liveKeys.add(it.stateKey);
  }

  /** One chunk: a run of one (the worker has one way to step lanes). */
  async step(batch: StepBatch): Promise<StepResult> {
    let result: StepResult | undefined;
    await this.stepRun({ numSteps: batch.numSteps, lanes: batch.lanes, chunks: 1 }, (_, r) => (result = r));
    assert(result !== undefined, "a one-chunk run reported no chunk");
    assert(batch.lanes.some((l) => l.score !== undefined) === (result.costs !== undefined), "step reply costs do not match the lanes that asked");
    return result;
  }

  async stepRun(run: StepRun, onChunk: (index: number, result: StepResult) => void): Promise<number> {
    const { chunkSize, height, width } = this.geometry;
    assert(Number.isSafeInteger(run.chunks) && run.chunks >= 1 && run.chunks <= limits.runChunksMax, `a run takes 1..${limits.runChunksMax} chunks, got ${run.chunks}`);
    this.checkLanes(run.numSteps, run.lanes, run.chunks);
    const frameBytes = height * width * 3;
    for (const it of run.encode ?? []) assert(it.frame.length === frameBytes, `encode ${it.stateKey}: ${it.frame.length} bytes, expected ${frameBytes}`);
    const lanes = run.lanes.length;
    let next = 0;
    const reply = await this.call({ id: 0, op: "run", numSteps: run.numSteps, lanes: run.lanes, chunks: run.chunks, ...(run.encode ? { encode: run.encode } : {}) }, (chunk) => {
      assert(chunk.chunk === next++ && chunk.frames.length === lanes * chunkSize * frameBytes, "run chunk reply out of order or with the wrong number of frame bytes");
      assert(chunk.costs === undefined || chunk.costs.length === lanes * chunkSize, "run chunk reply has the wrong number of costs");
      if (next === 1) for (const it of run.encode ?? []) this.liveKeys.add(it.stateKey);
      this._chunks++;
      for (const lane of run.lanes) this.liveKeys.add(lane.outStateKey);
      onChunk(chunk.chunk, { frames: chunk.frames, computeUs: chunk.computeUs, ...(chunk.costs !== undefined ? { costs: chunk.costs } : {}) });
    });
    assert(reply.chunksRun === next, `run reported ${reply.chunksRun} chunks, delivered ${next}`);
    return next;
  }

  interruptRun(): void {
    if (this.runId !== 0) Atomics.store(this.interrupt, 0, this.runId);
  }

  private checkLanes(numSteps: number, lanes: StepBatch["lanes"], chunks: number): void {
    const { chunkSize, actionDim } = this.geometry;
    assert(lanes.length > 0 && lanes.length <= limits.batchLanesMax, `a step takes 1..${limits.batchLanesMax} lanes, got ${lanes.length}`);
    assert(Number.isInteger(numSteps) && numSteps >= 1 && numSteps <= limits.numStepsMax, `numSteps must be 1..${limits.numStepsMax}, got ${numSteps}`);
    for (const lane of lanes) assert(lane.actions.length === chunks * chunkSize * actionDim, `lane ${lane.outStateKey}: ${lane.actions.length} action values, expected ${chunks * chunkSize * actionDim}`);
    for (const { score, outStateKey } of lanes) {
      if (score === undefined) continue;
      assert(this._scorers[score.scorer] !== undefined, `lane ${outStateKey}: no scorer ${JSON.stringify(score.scorer)} (loaded: ${Object.keys(this._scorers).join(", ") || "none"})`);
      assert(this.goals.has(score.goalKey), `lane ${outStateKey}: no goal under key ${JSON.stringify(score.goalKey)}`);
    }
  }

  /** Keeps a goal (one frame, or a trajectory of up to limits.goalFramesMax) in the worker under its key. */
  async setGoal(goal: GoalItem): Promise<void> {
    const frameBytes = this.geometry.height * this.geometry.width * 3;
    const count = goal.frames.length / frameBytes;
    assert(Number.isInteger(count) && count >= 1 && count <= limits.goalFramesMax, `goal ${goal.goalKey}: ${goal.frames.length} bytes is not 1..${limits.goalFramesMax} frames of ${frameBytes}`);
    const frames = goal.frames.slice(); // ours: the caller may reuse its buffer
    // Kept from the moment it is queued: calls reach the worker in order, so a run queued after this
    // finds the goal there, and a planner need not wait for the reply before submitting (one chunk
    // boundary less under batch load). A goal the worker refused is forgotten again.
    const kept = { frames, count };
    this.goals.set(goal.goalKey, kept);
    try {
      await this.call({ id: 0, op: "setGoal", goalKey: goal.goalKey, frames, count });
    } catch (err) {
      if (this.goals.get(goal.goalKey) === kept) this.goals.delete(goal.goalKey);
      throw err;
    }
  }

  releaseGoal(goalKeys: string[]): void {
    if (goalKeys.length === 0 || this.closed || this._state === "failed") return;
    for (const k of goalKeys) this.goals.delete(k);
    this.queue.push({ req: { id: this.nextId++, op: "releaseGoal", keys: goalKeys }, awaitsReply: false, resolve: () => {}, reject: () => {} });
    this.pump();
  }

  release(stateKeys: string[]): void {
    if (stateKeys.length === 0 || this.closed || this._state === "failed") return; // a failed runner holds no states
    for (const k of stateKeys) this.liveKeys.delete(k);
    this.queue.push({ req: { id: this.nextId++, op: "release", keys: stateKeys }, awaitsReply: false, resolve: () => {}, reject: () => {} });
    this.pump();
  }

  /**
   * Test and operator tooling: kill the worker thread as a crash would, whatever it is running
   * (injectFault waits behind the call in flight): it exits after the native call in flight, its calls
   * fail, its states are lost, it restarts.
   */
  killWorker(): void {
    if (this.worker !== null) this.abandon(this.worker);
  }

  /** Test-only: arm a fault that fires inside the worker thread during a later step. */
  async injectFault(fault: InjectedFault): Promise<void> {
    await this.call({ id: 0, op: "fault", kind: fault.kind, atStep: fault.atStep ?? 0 });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failPending(new ServiceError("UNAVAILABLE", `runner for ${this.opts.entry.slug} is closed`));
    this.abortLoad?.();
    const w = this.worker;
    this.worker = null;
    this.ready = false;
    if (w !== null) {
      w.removeAllListeners();
      await this.stopWorker(w);
    }
  }

  // --- internals -------------------------------------------------------------------------------------

  /**
   * Tells a worker to exit at its next JavaScript step (its lifeline) and wakes it if idle. Never
   * terminate(): a thread terminated inside an onnxruntime run aborts the whole process when the run
   * returns (node-addon-api throws Napi::Error into a dying environment; seen in CI as exit 134).
   */
  private abandon(w: Worker): void {
    const lifeline = this.lifelines.get(w);
    if (lifeline === undefined) return;
    Atomics.store(lifeline, 0, 1);
    Atomics.notify(lifeline, 0);
    w.postMessage({ id: 0, op: "exit" } satisfies Request);
  }

  /** Abandons a worker and waits (limits.workerExitGraceMs at most) for it to exit; past that it is unref'd and left to finish. */
  private async stopWorker(w: Worker): Promise<void> {
    if (w.threadId === -1) return; // already exited
    const exited = new Promise<void>((resolve) => w.once("exit", () => resolve()));
    this.abandon(w);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), limits.workerExitGraceMs)));
    const outcome = await Promise.race([exited, late]);
    clearTimeout(timer);
    if (outcome === "late") w.unref();
  }

  private setState(state: RunnerState, reason?: string): void {
    if (this._state === state) return;
    this._state = state;
    this.opts.onStateChange?.(state, { reason, restarts: this._restarts });
  }

  private call(req: Request, onChunk?: (reply: ChunkReply) => void): Promise<Reply & { ok: true; chunk?: undefined }> {
    if (this.closed) return Promise.reject(new ServiceError("UNAVAILABLE", `runner for ${this.opts.entry.slug} is closed`));
    if (this._state === "failed") {
      return Promise.reject(new ServiceError("ENGINE_FAILURE", `runner for ${this.opts.entry.slug} has failed: ${this._lastFailure ?? "not loaded"}`));
    }
    return new Promise((resolve, reject) => {
      req.id = this.nextId++;
      if (req.op === "run") this.runId = req.id;
      this.queue.push({ req, awaitsReply: true, resolve: resolve as (r: Reply) => void, reject, ...(onChunk ? { onChunk } : {}) });
      this.pump();
    });
  }

  private pump(): void {
    while (this.ready && this.inflight === null && this.queue.length > 0) {
      const pending = this.queue.shift()!;
      this.worker!.postMessage(pending.req);
      if (!pending.awaitsReply) continue;
      this.inflight = { pending, timer: this.callTimer(pending) };
      this.setState("busy");
    }
    if (this.ready && this.inflight === null) this.setState("idle");
  }

  private callTimer(pending: Pending): NodeJS.Timeout {
    return setTimeout(() => this.onWorkerFailure(`${pending.req.op} exceeded chunkTimeoutMs=${this.opts.chunkTimeoutMs}`), this.opts.chunkTimeoutMs);
  }

  private onReply(reply: Reply): void {
    const current = this.inflight;
    if (current === null || current.pending.req.id !== reply.id) return; // reply to a release
    clearTimeout(current.timer);
    if (reply.ok && "chunk" in reply) {
      // A run's chunk: the run goes on, and its timeout restarts (it bounds each chunk, not the run).
      current.timer = this.callTimer(current.pending);
      current.pending.onChunk?.(reply);
      return;
    }
    this.inflight = null;
    // Only the run that ended: a run queued behind it (another scheduler on this runner) keeps its id.
    if (current.pending.req.op === "run" && this.runId === current.pending.req.id) this.runId = 0;
    if (reply.ok) current.pending.resolve(reply);
    else current.pending.reject(engineFailure(`${current.pending.req.op} failed in the runner: ${reply.error.message}`, reply.error, reply.encodeFailed === true));
    this.pump();
  }

  private failPending(err: ServiceError): void {
    if (this.inflight !== null) {
      clearTimeout(this.inflight.timer);
      this.inflight.pending.reject(err);
      this.inflight = null;
    }
    for (const p of this.queue.splice(0)) p.reject(err);
  }

  private spawn(): Worker {
    const init: WorkerInit = {
      kind: WORKER_KIND,
      modelDir: this.opts.modelDir,
      entry: this.opts.entry,
      executionProvider: this.ep,
      intraOpThreads: this.opts.intraOpThreads,
      spinning: this.opts.spinning === true,
      warmLanes: Math.min(this.opts.warmLanes ?? this.opts.entry.batchLanesMax, limits.batchLanesMax),
      interrupt: this.interrupt.buffer as SharedArrayBuffer,
      lifeline: new SharedArrayBuffer(4),
    };
    const w = startModuleWorker(__dirname, "worker", { workerData: init });
    this.lifelines.set(w, new Int32Array(init.lifeline));
    return w;
  }

  /** Spawns a worker and waits until its sessions are created and warm. */
  private startWorker(): Promise<void> {
    const w = this.spawn();
    this.worker = w;
    return new Promise<void>((resolve, reject) => {
      const loadTimeoutMs = this.opts.loadTimeoutMs ?? 300_000;
      const timer = setTimeout(() => {
        fail(new ServiceError("MODEL_UNAVAILABLE", `loading ${this.opts.entry.slug} took longer than ${loadTimeoutMs} ms`));
      }, loadTimeoutMs);
      let settled = false;
      this.abortLoad = () => fail(new ServiceError("UNAVAILABLE", `runner for ${this.opts.entry.slug} was closed while loading`));
      const fail = (err: ServiceError) => {
        if (settled) return;
        settled = true;
        this.abortLoad = null;
        clearTimeout(timer);
        w.removeAllListeners();
        this.abandon(w); // it may be inside a native call (a slow load): it exits when that returns
        w.unref();
        if (this.worker === w) this.worker = null;
        reject(err);
      };
      w.once("message", (msg: Status) => {
        if (msg.status === "load-failed") {
          fail(new ServiceError(msg.error.reason ?? "MODEL_UNAVAILABLE", msg.error.message, msg.error.details ?? {}));
          return;
        }
        settled = true;
        this.abortLoad = null;
        clearTimeout(timer);
        w.on("message", (reply: Reply) => this.onReply(reply));
        this._scorers = Object.freeze({ ...msg.scorers });
        this._stateBytesPerLane = msg.latentSize * Float32Array.BYTES_PER_ELEMENT;
        this.replayGoals();
        this.ready = true;
        this.pump();
        resolve();
      });
      w.on("error", (err: Error) => (settled ? this.onWorkerFailure(`worker error: ${err.message}`, w) : fail(new ServiceError("MODEL_UNAVAILABLE", `runner worker failed while loading: ${err.message}`))));
      w.on("exit", (code: number) => (settled ? this.onWorkerFailure(code === WORKER_EXIT_LIFELINE ? "worker was killed (it exited on its lifeline)" : `worker exited with code ${code}`, w) : fail(new ServiceError("MODEL_UNAVAILABLE", `runner worker exited with code ${code} while loading`))));
    });
  }

  /** A restarted worker gets the live goals back before any other call (their replies are ignored, like a release's). */
  private replayGoals(): void {
    const replays: Pending[] = [...this.goals].map(([goalKey, g]) => ({ req: { id: this.nextId++, op: "setGoal", goalKey, frames: g.frames, count: g.count }, awaitsReply: false, resolve: () => {}, reject: () => {} }));
    this.queue.unshift(...replays);
  }

  private onWorkerFailure(reason: string, from?: Worker): void {
    const w = this.worker;
    if (w === null || (from !== undefined && from !== w) || this.closed) return; // already handled
    this.worker = null;
    this.ready = false;
    w.removeAllListeners();
    // A thread stuck inside a native call exits when that call returns (its lifeline); we do not wait
    // for it, and a restarted worker takes its place meanwhile.
    this.abandon(w);
    w.unref();
    const lost = this.liveKeys.size;
    this.liveKeys.clear();
    this._statesLost += lost;
    this._restarts++;
    const now = this.clock.nowUs() / 1000;
    this.restartTimesMs.push(now);
    while (this.restartTimesMs.length > 0 && this.restartTimesMs[0]! < now - 60_000) this.restartTimesMs.shift();
    const budget = Math.min(this.opts.restartsPerMinuteMax ?? limits.runnerRestartsPerMinuteMax, limits.runnerRestartsPerMinuteMax);
    const giveUp = this.restartTimesMs.length > budget;
    this._lastFailure = giveUp ? `more than ${budget} restarts in a minute; last: ${reason}` : reason;
    this.failPending(
      new ServiceError(
        "ENGINE_FAILURE",
        `runner for ${this.opts.entry.slug} failed (${reason}); its ${lost} latent states were lost and ${giveUp ? "it gave up after too many restarts" : "it is restarting"}`,
        { cause: reason, statesLost: lost },
      ),
    );
    if (giveUp) {
      this.setState("failed", this._lastFailure);
      return;
    }
    this.setState("restarting", reason);
    this.startWorker().catch((err: unknown) => {
      if (this.closed) return;
      this._lastFailure = `restart failed: ${err instanceof Error ? err.message : String(err)}`;
      this.failPending(new ServiceError("ENGINE_FAILURE", `runner for ${this.opts.entry.slug}: ${this._lastFailure}`));
      this.setState("failed", this._lastFailure);
    });
  }
}

function engineFailure(message: string, err: WireError, encodeFailed = false): ServiceError {
  return new ServiceError("ENGINE_FAILURE", message, { ...(err.details ?? {}), ...(err.reason !== undefined ? { workerReason: err.reason } : {}), ...(encodeFailed ? { encodeFailed: true } : {}) });
}

export function createRunner(opts: RunnerOptions): OrtRunner {
  return new OrtRunner(opts);
}
