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
}

export interface StepBatch {
  /** Diffusion steps for every lane of this call (the scheduler groups lanes by num_steps). */
  numSteps: number;
  lanes: StepLane[];
}

export interface StepResult {
  /**
   * uint8 [lanes, chunkSize, height, width, 3]; lane i's frames start at i*chunkSize*height*width*3.
   * A fresh buffer per call, never reused: the scheduler hands out views into it without copying.
   */
  frames: Uint8Array;
  /** Time the step took inside the runner, excluding queueing. */
  computeUs: number;
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
  /** Forget states (finished or cancelled lanes and their requests). Never throws. */
  release(stateKeys: string[]): void;
}
