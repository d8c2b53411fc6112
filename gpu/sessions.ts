// The two ORT sessions of one model (encoder + chunk step) and the typed-array calls on them. Used on
// the worker thread by the runner and on the main thread by gpu/direct.ts. Loading checks the files
// against the model contract (names, dtypes, shapes) so a wrong export fails at load, not mid-request.
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { assert } from "../src/core/assert";
import { ServiceError } from "../src/core/errors";
import type { CatalogEntry } from "../src/config/catalog";
import type { ModelGeometry } from "../src/scheduler/executor";
import { checkExecutionProvider, parseExecutionProvider, sessionCreateError, sessionProviders, type ExecutionProvider } from "./ep";
import type { StepTensors } from "./packing";

export interface SessionOptions {
  modelDir: string;
  entry: CatalogEntry;
  /** "cpu" (default), "cuda" or "cuda:N". */
  executionProvider?: string;
  /** ORT intra-op threads; default: ORT's choice (one per physical core). */
  intraOpThreads?: number;
  /** Let ORT's intra-op threads spin after a parallel section (its default); false: they sleep (see createSession). */
  spinning?: boolean;
}

export interface StepOutput {
  /** uint8 [lanes, chunkSize, H, W, 3]; owns its whole ArrayBuffer (transferable). */
  frames: Uint8Array;
  /** float32 [lanes, ...latent]. */
  nextState: Float32Array;
}

export type Spec = { name: string; type: ort.Tensor.Type; rank: number };
const ENCODER_INPUTS: Spec[] = [{ name: "frame", type: "uint8", rank: 4 }];
const ENCODER_OUTPUTS: Spec[] = [{ name: "state", type: "float32", rank: 4 }];
const STEP_INPUTS: Spec[] = [
  { name: "state", type: "float32", rank: 4 },
  { name: "actions", type: "float32", rank: 3 },
  { name: "noise", type: "float32", rank: 4 },
  { name: "guidance", type: "float32", rank: 1 },
  { name: "num_steps", type: "int64", rank: 0 },
];
const STEP_OUTPUTS: Spec[] = [
  { name: "frames", type: "uint8", rank: 5 },
  { name: "next_state", type: "float32", rank: 4 },
];

export function checkContract(file: string, what: string, actual: readonly ort.InferenceSession.ValueMetadata[], expected: Spec[]): void {
  for (const spec of expected) {
    const m = actual.find((v) => v.name === spec.name);
    const problem =
      m === undefined ? "is missing" : !m.isTensor ? "is not a tensor" : m.type !== spec.type ? `has dtype ${m.type}, expected ${spec.type}` : m.shape.length !== spec.rank ? `has rank ${m.shape.length}, expected ${spec.rank}` : null;
    if (problem !== null) {
      throw new ServiceError("MODEL_UNAVAILABLE", `${file}: ${what} ${JSON.stringify(spec.name)} ${problem} (see docs/MODEL_CONTRACT.md)`, { file, name: spec.name });
    }
  }
}

export function fixedDim(file: string, name: string, dim: number | string | undefined, expected?: number): number {
  if (typeof dim !== "number" || (expected !== undefined && dim !== expected)) {
    throw new ServiceError("MODEL_UNAVAILABLE", `${file}: ${name} has dimension ${JSON.stringify(dim)}, expected ${expected ?? "a fixed size"}`, { file, name });
  }
  return dim;
}

/**
 * `source` is a path, or the bytes of a model built in memory (then `file` only names it in errors).
 * `spinning` false (the default here, not ORT's) sets session.intra_op.allow_spinning=0: ORT's pool
 * threads otherwise busy-wait after every parallel section for more work, which on a host with few
 * cores takes them from the threads that receive, encode and send (`npm run bench:overhead` measures
 * both settings side by side, served and direct).
 */
export async function createSession(ep: ExecutionProvider, file: string, intraOpThreads: number | undefined, source: string | Uint8Array = file, spinning = false): Promise<ort.InferenceSession> {
  try {
    const options: ort.InferenceSession.SessionOptions = {
      executionProviders: sessionProviders(ep),
      graphOptimizationLevel: "all",
      ...(intraOpThreads !== undefined ? { intraOpNumThreads: intraOpThreads } : {}),
      extra: { session: { intra_op: { allow_spinning: spinning ? "1" : "0" } } },
      logSeverityLevel: 3, // errors only: ORT's warnings about unused initializers are noise here
    };
    return await (typeof source === "string" ? ort.InferenceSession.create(source, options) : ort.InferenceSession.create(source, options));
  } catch (err) {
    throw sessionCreateError(ep, file, err);
  }
}

export class ModelSessions {
  /** Elements of one lane's latent state, e.g. 16*60*80. */
  readonly latentSize: number;

  private constructor(
    readonly geometry: ModelGeometry,
    /** Latent shape without the batch dim, read from the step model (e.g. [16, 60, 80]). */
    readonly latentShape: readonly number[],
    private readonly encoder: ort.InferenceSession,
    private readonly stepper: ort.InferenceSession,
  ) {
    this.latentSize = latentShape.reduce((a, b) => a * b, 1);
  }

  static async open(opts: SessionOptions): Promise<ModelSessions> {
    const ep = parseExecutionProvider(opts.executionProvider);
    checkExecutionProvider(ep); // fail fast, before any file is read
    const { entry } = opts;
    const [height, width] = entry.resolution;
    const geometry: ModelGeometry = { height, width, actionDim: entry.actionDim, chunkSize: entry.chunkSize };
    const encFile = join(opts.modelDir, entry.files.encoder);
    const stepFile = join(opts.modelDir, entry.files.step);
    const encoder = await createSession(ep, encFile, opts.intraOpThreads, encFile, opts.spinning);
    const stepper = await createSession(ep, stepFile, opts.intraOpThreads, stepFile, opts.spinning).catch(async (err: unknown) => {
      await encoder.release();
      throw err;
    });
    try {
      checkContract(encFile, "input", encoder.inputMetadata, ENCODER_INPUTS);
      checkContract(encFile, "output", encoder.outputMetadata, ENCODER_OUTPUTS);
      checkContract(stepFile, "input", stepper.inputMetadata, STEP_INPUTS);
      checkContract(stepFile, "output", stepper.outputMetadata, STEP_OUTPUTS);
      const frameShape = (encoder.inputMetadata.find((m) => m.name === "frame") as ort.InferenceSession.TensorValueMetadata).shape;
      [height, width, 3].forEach((d, i) => fixedDim(encFile, "frame", frameShape[i + 1], d));
      const actShape = (stepper.inputMetadata.find((m) => m.name === "actions") as ort.InferenceSession.TensorValueMetadata).shape;
      fixedDim(stepFile, "actions", actShape[1], entry.chunkSize);
      fixedDim(stepFile, "actions", actShape[2], entry.actionDim);
      const stateShape = (stepper.inputMetadata.find((m) => m.name === "state") as ort.InferenceSession.TensorValueMetadata).shape;
      const latentShape = stateShape.slice(1).map((d) => fixedDim(stepFile, "state", d));
      return new ModelSessions(geometry, latentShape, encoder, stepper);
    } catch (err) {
      await Promise.all([encoder.release(), stepper.release()]);
      throw err;
    }
  }

  /** Encodes `count` frames (uint8 [count, H, W, 3]) into float32 [count, ...latent]. */
  async encode(frames: Uint8Array, count: number): Promise<Float32Array> {
    const { height, width } = this.geometry;
    assert(frames.length === count * height * width * 3, `encode: ${frames.length} bytes for ${count} frames of ${height}x${width}x3`);
    const out = await this.encoder.run({ frame: new ort.Tensor("uint8", frames, [count, height, width, 3]) });
    const state = out.state!.data as Float32Array;
    assert(state.length === count * this.latentSize, `encoder returned ${state.length} values, expected ${count * this.latentSize}`);
    return state;
  }

  /** Runs one chunk for a packed batch. */
  async step(t: StepTensors, numSteps: number): Promise<StepOutput> {
    const { chunkSize, actionDim, height, width } = this.geometry;
    const n = t.lanes;
    const latentDims = [n, ...this.latentShape];
    const out = await this.stepper.run({
      state: new ort.Tensor("float32", t.state, latentDims),
      actions: new ort.Tensor("float32", t.actions, [n, chunkSize, actionDim]),
      noise: new ort.Tensor("float32", t.noise, latentDims),
      guidance: new ort.Tensor("float32", t.guidance, [n]),
      num_steps: new ort.Tensor("int64", BigInt64Array.of(BigInt(numSteps)), []),
    });
    let frames = out.frames!.data as Uint8Array;
    const nextState = out.next_state!.data as Float32Array;
    assert(frames.length === n * chunkSize * height * width * 3, `step returned ${frames.length} frame bytes for ${n} lanes`);
    assert(nextState.length === n * this.latentSize, `step returned ${nextState.length} state values for ${n} lanes`);
    // Callers transfer frames.buffer to another thread; copy only if ORT handed out a view of a larger buffer.
    if (frames.byteOffset !== 0 || frames.byteLength !== frames.buffer.byteLength) frames = frames.slice();
    return { frames, nextState };
  }

  /**
   * One dummy encode + step so that the first real request pays no warm-up (kernel selection, arena
   * growth, Loop subgraph init). `lanes` > 1 pre-grows the arena for a batch of that size.
   */
  async warm(lanes = 1, numSteps = 1): Promise<void> {
    const { height, width, chunkSize, actionDim } = this.geometry;
    const state = await this.encode(new Uint8Array(height * width * 3), 1);
    const batchState = new Float32Array(lanes * this.latentSize);
    for (let i = 0; i < lanes; i++) batchState.set(state, i * this.latentSize);
    await this.step(
      { lanes, state: batchState, actions: new Float32Array(lanes * chunkSize * actionDim), noise: new Float32Array(lanes * this.latentSize), guidance: new Float32Array(lanes).fill(1) },
      numSteps,
    );
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.stepper.release()]);
  }
}
