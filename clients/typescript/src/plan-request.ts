// Building a PlanRequest without spelling out every field of the proto, and reading its answers:
// planRequest() takes the few things a plan needs (model, frames, planner, mask) with defaults for the
// rest; unpackActions() turns a best_actions / session chunk back into a Float32Array.
import { FrameEncoding, Priority, type Actions, type Frame, type SamplingParams } from "../../../src/gen/dream/v1/dream";
import { CostAggregation, type PlanBudget, type PlanOutput, type PlanRequest, type SamplingSpec } from "../../../src/gen/dream/v1/planning";

/** A raw RGB8 frame (H x W x 3 bytes, row-major), the form the engine's frames come back in. */
export function rawFrame(data: Uint8Array, height: number, width: number): Frame {
  if (data.length !== height * width * 3) throw new Error(`a raw ${height}x${width} frame is ${height * width * 3} bytes, got ${data.length}`);
  return { encoding: FrameEncoding.RAW_RGB8, data, height, width };
}

/** An action sequence from the wire (packed little-endian float32, shape [T, D]) as T x D floats. */
export function unpackActions(actions: Actions | undefined): Float32Array {
  if (!actions) return new Float32Array(0);
  const count = actions.shape.reduce((a, b) => a * b, 1);
  if (actions.data.byteLength !== count * 4) throw new Error(`actions of shape [${actions.shape.join(", ")}] are ${count * 4} bytes, got ${actions.data.byteLength}`);
  // Protobuf bytes may sit at any offset of the received buffer; Float32Array needs 4-byte alignment.
  const { buffer, byteOffset, byteLength } = actions.data;
  if (byteOffset % 4 === 0) return new Float32Array(buffer, byteOffset, count);
  return new Float32Array(buffer.slice(byteOffset, byteOffset + byteLength));
}

export interface CemOptions {
  /** K, candidates per iteration (2 ... limits.planSamplesMax). */
  samples: number;
  /** I. */
  iterations: number;
  /** E, the elites refitted to; default max(1, round(K / 8)). */
  elites?: number;
  /** Share of the previous mean/std kept per update, [0, 1); default 0. */
  momentum?: number;
  /** Floor on the deviation; default 0. */
  stdMin?: number;
}

export interface MppiOptions {
  samples: number;
  iterations: number;
  /** Temperature > 0, in the scorer's cost units (pixel L2 costs are small: try 0.001 ... 0.01). */
  lambda: number;
}

export type PlannerChoice = { rank: { candidates: Actions[] } } | { cem: CemOptions } | { mppi: MppiOptions };

export interface PlanSpec {
  model: string;
  /** The current observation; ignored by sessions (each step brings its own). */
  startFrame?: Frame;
  /** The goal frame, at the model's resolution (or leave it out and give goalFrames). */
  goal?: Frame;
  /** A goal trajectory: predicted frame t (1-based) is scored against goalFrames[min(t - 1, n - 1)]. */
  goalFrames?: Frame[];
  planner: PlannerChoice;
  /** T, the horizon; sampling planners need it (rank takes it from the candidates). */
  actionSteps?: number;
  /** Half-open ranges [start, end) of the action dimensions sampled; default all. */
  mask?: Array<[number, number]>;
  /** The rest of the sampling space (nominal, warm start, init_std, bounds, hold_steps, smoothing). */
  sampling?: Partial<Omit<SamplingSpec, "mask">>;
  /** A scorer the model's catalog entry names; default the model's. */
  scorer?: string;
  /** Default FINAL (the last frame's cost). */
  aggregation?: CostAggregation;
  /** DISCOUNTED only. */
  gamma?: number;
  /** Successive halving at chunk boundaries; off by default. */
  pruning?: { dropFraction: number; keepMin?: number };
  budget?: Partial<PlanBudget>;
  params?: Partial<SamplingParams>;
  output?: Partial<PlanOutput>;
  deadlineMs?: number;
  requestId?: string;
  /** Default INTERACTIVE; BATCH for offline planning that should yield to control loops. */
  priority?: Priority;
}

/** The PlanRequest a PlanSpec describes, every field set (defaults as the proto documents). */
export function planRequest(s: PlanSpec): PlanRequest {
  const sampling = s.mask !== undefined || s.sampling !== undefined ? samplingOf(s) : undefined;
  return {
    model: s.model,
    startFrame: s.startFrame,
    actionSteps: s.actionSteps ?? 0,
    cost: { scorer: s.scorer ?? "", goal: s.goal, aggregation: s.aggregation ?? CostAggregation.FINAL, gamma: s.gamma ?? 0, goalFrames: s.goalFrames ?? [] },
    planner: plannerOf(s.planner),
    sampling,
    pruning: s.pruning ? { dropFraction: s.pruning.dropFraction, keepMin: s.pruning.keepMin ?? 1 } : undefined,
    budget: s.budget ? { timeBudgetMs: 0, framesMax: 0, costMaxMicros: 0, ...s.budget } : undefined,
    params: s.params ? { numSteps: 0, seed: 0, ...s.params } : undefined,
    output: s.output ? { bestRollout: false, topK: 0, encoding: undefined, ...s.output } : undefined,
    deadlineMs: s.deadlineMs ?? 0,
    requestId: s.requestId ?? "",
    priority: s.priority ?? Priority.PRIORITY_UNSPECIFIED,
  };
}

function plannerOf(p: PlannerChoice): PlanRequest["planner"] {
  if ("rank" in p) return { $case: "rank", value: { candidates: p.rank.candidates } };
  if ("cem" in p) {
    const c = p.cem;
    return { $case: "cem", value: { samples: c.samples, iterations: c.iterations, elites: c.elites ?? Math.max(1, Math.round(c.samples / 8)), momentum: c.momentum ?? 0, stdMin: c.stdMin ?? 0 } };
  }
  return { $case: "mppi", value: { samples: p.mppi.samples, iterations: p.mppi.iterations, lambda: p.mppi.lambda } };
}

function samplingOf(s: PlanSpec): SamplingSpec {
  return {
    mask: (s.mask ?? []).map(([start, end]) => ({ start, end })),
    nominal: undefined,
    warmStart: undefined,
    initStd: 0,
    low: [],
    high: [],
    holdSteps: 0,
    smoothing: 0,
    ...s.sampling,
  };
}
