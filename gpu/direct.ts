// The floor the overhead bench compares the served path against: the same ONNX sessions, in-process
// on the calling thread, no worker, no scheduler, no transport. Per chunk it does exactly what the
// worker does (packStep / NoiseCache / scatterNextState from gpu/packing.ts), so the difference between
// served and direct is the serving overhead alone.
import { assert } from "../src/core/assert";
import type { CatalogEntry } from "../src/config/catalog";
import type { StepLane } from "../src/scheduler/executor";
import { NoiseCache, chunkActions, chunkCount, framesInChunk, packStep, scatterNextState } from "./packing";
import { ModelSessions, type SessionOptions } from "./sessions";

export interface DirectRolloutInput {
  /** Candidates (lanes) sharing the start frame. */
  k: number;
  /** Actions per candidate. */
  t: number;
  numSteps: number;
  seed: bigint;
  /** Default: the catalog entry's defaultGuidance. */
  guidance?: number;
  /** Raw RGB8 start frame, H*W*3 bytes. */
  frame: Uint8Array;
  /** float32 [k, t, actionDim], candidate-major. */
  actions: Float32Array;
  /**
   * Where to put the frames (k*(t+1)*H*W*3 bytes), e.g. the previous run's, so that repeated runs
   * write into memory that is already faulted in, as the served path's reused response buffer is.
   * Default: a new buffer per run.
   */
  into?: Uint8Array;
}

export interface DirectRolloutResult {
  /** uint8 [k, t+1, H, W, 3]: each candidate's frame 0 is the start frame, then its t predicted frames. */
  frames: Uint8Array;
  encodeMs: number;
  /** Wall time of each chunk step (all k lanes in one call). */
  stepMs: number[];
  /** Whole rollout: encode + every chunk + frame assembly. */
  wallMs: number;
}

export type DirectOptions = Omit<SessionOptions, "modelDir" | "entry">;

/** Sessions kept open on the calling thread, for repeated measured rollouts. */
export class DirectModel {
  private constructor(
    readonly entry: CatalogEntry,
    private readonly sessions: ModelSessions,
  ) {}

  /** Opens and warms the sessions (warm-up with `warmLanes` lanes is not part of any measurement). */
  static async open(modelDir: string, entry: CatalogEntry, opts: DirectOptions & { warmLanes?: number } = {}): Promise<DirectModel> {
    // The floor runs with the model's own spinning setting unless told (as the served runner does).
    const sessions = await ModelSessions.open({ modelDir, entry, ...opts, spinning: opts.spinning ?? entry.ortSpinning ?? false });
    await sessions.warm(opts.warmLanes ?? 1);
    return new DirectModel(entry, sessions);
  }

  async run(input: DirectRolloutInput): Promise<DirectRolloutResult> {
    const { height, width, chunkSize, actionDim } = this.sessions.geometry;
    const { k, t } = input;
    const frameBytes = height * width * 3;
    assert(k >= 1 && t >= 1, "k and t must be positive");
    assert(input.frame.length === frameBytes, `frame: ${input.frame.length} bytes, expected ${frameBytes}`);
    assert(input.actions.length === k * t * actionDim, `actions: ${input.actions.length} values, expected ${k * t * actionDim}`);
    const guidance = input.guidance ?? this.entry.defaultGuidance;
    const t0 = performance.now();

    const states = new Map<string, Float32Array>();
    states.set("start", await this.sessions.encode(input.frame, 1));
    const encodeMs = performance.now() - t0;

    const outBytes = k * (t + 1) * frameBytes;
    assert(input.into === undefined || input.into.length === outBytes, `into: ${input.into?.length} bytes, expected ${outBytes}`);
    const out = input.into ?? new Uint8Array(outBytes);
    for (let lane = 0; lane < k; lane++) out.set(input.frame, lane * (t + 1) * frameBytes);
    const noise = new NoiseCache(this.sessions.latentSize);
    const geo = { latentSize: this.sessions.latentSize, chunkSize, actionDim };
    const stepMs: number[] = [];
    for (let c = 0; c < chunkCount(t, chunkSize); c++) {
      const lanes: StepLane[] = Array.from({ length: k }, (_, lane) => ({
        inStateKey: c === 0 ? "start" : `lane:${lane}`,
        outStateKey: `lane:${lane}`,
        actions: chunkActions(input.actions.subarray(lane * t * actionDim, (lane + 1) * t * actionDim), t, c, chunkSize, actionDim),
        guidance,
        seed: input.seed,
        chunkIndex: c,
      }));
      const s0 = performance.now();
      const result = await this.sessions.step(packStep(lanes, states, geo, noise), input.numSteps);
      scatterNextState(lanes, result.nextState, geo.latentSize, states);
      stepMs.push(performance.now() - s0);
      // Pad-and-trim: a partial last chunk's extra frames are dropped.
      const real = framesInChunk(t, c, chunkSize);
      for (let lane = 0; lane < k; lane++) {
        const src = result.frames.subarray(lane * chunkSize * frameBytes, (lane * chunkSize + real) * frameBytes);
        out.set(src, (lane * (t + 1) + 1 + c * chunkSize) * frameBytes);
      }
    }
    return { frames: out, encodeMs, stepMs, wallMs: performance.now() - t0 };
  }

  async close(): Promise<void> {
    await this.sessions.release();
  }
}

/** Opens + warms the model, runs one rollout, closes. Only the rollout itself is timed. */
export async function runDirect(modelDir: string, entry: CatalogEntry, input: DirectRolloutInput, opts: DirectOptions = {}): Promise<DirectRolloutResult> {
  const model = await DirectModel.open(modelDir, entry, opts);
  try {
    return await model.run(input);
  } finally {
    await model.close();
  }
}
