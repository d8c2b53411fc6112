// The Executor is the only thing the scheduler knows about the accelerator: types only, no imports of
// gpu/. gpu/ implements it with ONNX Runtime sessions in worker threads; tests implement it with fakes.
//
// Model contract in one paragraph (docs/MODEL_CONTRACT.md has the whole story): a world model is an
// *encoder* (start frame → latent state) and a *chunk step* (state + chunkSize actions → chunkSize
// frames + next state). The engine encodes a request's start frame once, then steps every candidate
// ("lane") chunk by chunk. Lanes from different requests share a step call; that is how a request that
// arrives mid-batch joins at the next chunk boundary. States stay inside the executor, named by keys.

export interface EncodeItem {
  /** Key under which the executor keeps the encoded state (one per request; its K lanes share it). */
  stateKey: string;
  /** Raw RGB8, height*width*3 bytes, row-major, at the model's resolution. */
  frame: Uint8Array;
}

export interface StepLane {
  /** State to read: the request's encoded state for chunk 0, then the lane's own state. */
  inStateKey: string;
  /** Where the executor stores the lane's next state (normally the lane's own key). */
  outStateKey: string;
  /** chunkSize * actionDim float32, row-major; a trailing partial chunk is zero-padded by the caller. */
  actions: Float32Array;
  /** Classifier-free guidance scale for this lane. */
  guidance: number;
  /** Noise is a pure function of (seed, chunkIndex): same inputs and seed → identical frames. */
  seed: bigint;
  chunkIndex: number;
  /**
   * Score this lane's chunk in the executor, right after the step: `scorer` is a name from the model's
   * catalog `scorers`, `goalKey` a goal set with setGoal. Costs come back in StepResult.costs.
   */
  score?: StepScore;
}

export interface StepScore {
  scorer: string;
  goalKey: string;
  /** In a multi-chunk run, only chunks with chunkIndex >= this are scored (default: every chunk). */
  fromChunk?: number;
}

/** A goal for scoring, kept in the executor until releaseGoal. */
export interface GoalItem {
  goalKey: string;
  /**
   * Raw RGB8 at the model's resolution: one frame (height*width*3 bytes, the goal of every frame), or
   * n frames back to back (a goal trajectory: predicted frame t of the rollout, 0-based, is scored
   * against goal min(t, n-1)).
   */
  frames: Uint8Array;
}

/** "frames": scores each predicted frame; "latent": scores the chunk-end latent (one cost per chunk). */
export type ScorerKind = "frames" | "latent";

export interface StepBatch {
  /** Diffusion steps for every lane of this call (the scheduler groups lanes by num_steps). */
  numSteps: number;
  lanes: StepLane[];
}

/**
 * Several consecutive chunks of an unchanged batch in one executor call (see Executor.stepRun): the
 * scheduler asks for one only when nothing can change the batch before the run ends, and interrupts it
 * when something does, so the batch is the same as chunk-by-chunk stepping would have formed.
 */
export interface StepRun {
  numSteps: number;
  /**
   * Lanes at their first chunk of the run; a lane's `actions` hold `chunks` chunks back to back
   * (chunks * chunkSize * actionDim float32), and from the second chunk on it reads its own outStateKey.
   */
  lanes: StepLane[];
  /** 1..limits.runChunksMax. */
  chunks: number;
  /** Start frames to encode before the first chunk, in the same call (requests admitted with this run). */
  encode?: EncodeItem[];
}

export interface StepResult {
  /**
   * uint8 [lanes, chunkSize, height, width, 3]; lane i's frames start at i*chunkSize*height*width*3.
   * A fresh buffer per call, never reused: the scheduler hands out views into it without copying.
   */
  frames: Uint8Array;
  /** Time the step took inside the runner, excluding queueing. */
  computeUs: number;
  /**
   * Present when some lane asked for a score: float32 [lanes, chunkSize], lower is better; lane i's
   * costs start at i*chunkSize. Rows of lanes that did not ask are NaN. A latent scorer's row repeats
   * its one chunk-end cost chunkSize times. Padded frames of a partial last chunk are scored too; the
   * caller drops their costs as it drops the frames.
   */
  costs?: Float32Array;
}

export interface ModelGeometry {
  height: number;
  width: number;
  actionDim: number;
  chunkSize: number;
}

export interface Executor {
  readonly geometry: ModelGeometry;
  /** Encode each start frame once; the state is kept under its stateKey until released. */
  encode(items: EncodeItem[]): Promise<void>;
  /** Run one chunk for a batch of lanes. Rejects with ServiceError("ENGINE_FAILURE") on runner faults. */
  step(batch: StepBatch): Promise<StepResult>;
  /**
   * Optional: encode `run.encode`, then run `run.chunks` consecutive chunks of the same lanes without a
   * round trip per chunk, calling onChunk(i, result) as chunk i finishes (in order). After
   * interruptRun() no further chunk starts: the chunk in flight finishes and is reported (and a run that
   * encoded steps no chunk at all when interrupted during its encode). Resolves with the number of
   * chunks run. Rejects like encode (with `encodeFailed: true` on the error's details when
   * the encode failed, so nothing was stepped) or step.
   */
  stepRun?(run: StepRun, onChunk: (index: number, result: StepResult) => void): Promise<number>;
  /** Stop the current stepRun at its next chunk boundary; a no-op when none runs. */
  interruptRun?(): void;
  /**
   * Bytes one lane's state takes in the executor (0 or absent = unknown): bounds how many paused batch
   * lanes may keep their state (limits.pausedStateBytesMax) before some are evicted.
   */
  readonly stateBytesPerLane?: number;
  /** Forget states (finished or cancelled lanes and their requests). Never throws. */
  release(stateKeys: string[]): void;
  /** Scorers loaded with the model (catalog `scorers`), by name; absent or empty: no scoring. */
  readonly scorers?: Readonly<Record<string, ScorerKind>>;
  /** Keep a goal under its key (encoded once, the first time a latent scorer reads it). */
  setGoal?(goal: GoalItem): Promise<void>;
  /** Forget goals. Never throws. */
  releaseGoal?(goalKeys: string[]): void;
}
