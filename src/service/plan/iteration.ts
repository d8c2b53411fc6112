// One planner iteration on the engine: the K candidates go out as engine requests of at most the
// model's batch lanes each (all with the request's seed: common random numbers, so candidates differ
// only by their actions), its chunks are scored next to the model (only the last one when a final-frame cost is all that is read), and — when pruning is on — the
// worst share of each request's live candidates stops at each chunk boundary. What comes back is one
// cost per candidate (Infinity for a candidate that did not finish) and the frames generated.
import { ServiceError } from "../../core/errors";
import { partialCost, type Aggregation } from "../../planning/aggregate";
import { pruneAtBoundary, type Halving } from "../../planning/halving";
import type { EngineChunk, EngineEnd, ModelEngine } from "../ports";

export interface IterationInput {
  engine: ModelEngine;
  /** Engine request id prefix, unique per plan and iteration. */
  idPrefix: string;
  candidates: readonly Float32Array[];
  actionSteps: number;
  lanesPerRequestMax: number;
  startFrame: Uint8Array;
  numSteps: number;
  guidance: number;
  seed: bigint;
  deadlineUs: number | undefined;
  /** The plan's customer: fair share in the scheduler is kept per customer. */
  customerId: string;
  priority: "interactive" | "batch";
  score: { scorer: string; goalKey: string };
  aggregation: Aggregation;
  pruning: Halving | undefined;
  /** Keep every candidate's raw frames (views, no copies) for rollouts in the response. */
  keepFrames: boolean;
  /** Aborting cancels every request of the iteration at its next chunk boundary. */
  signal: AbortSignal;
}

export interface IterationOutcome {
  /** Per candidate; Infinity where it was pruned or did not finish. */
  costs: number[];
  /** Per candidate, the cost over the frames it did generate (what pruning compared). */
  partialCosts: number[];
  /** Predicted frames generated per candidate (the conditioning frame not counted). */
  framesPerCandidate: number[];
  pruned: number;
  /** "completed" unless some request ended otherwise (the first such reason and its error). */
  reason: EngineEnd["reason"];
  error: ServiceError | undefined;
  /** Raw frames per candidate (frame 1 on), when asked for. */
  frames: Uint8Array[][] | undefined;
  engineUs: number;
}

interface Part {
  id: string;
  first: number;
  count: number;
}

export async function runIteration(input: IterationInput): Promise<IterationOutcome> {
  const k = input.candidates.length;
  const perFrame = input.candidates.map(() => new Float64Array(input.actionSteps + 1));
  const generated = new Array<number>(k).fill(0);
  const out: IterationOutcome = { costs: [], partialCosts: [], framesPerCandidate: new Array<number>(k).fill(0), pruned: 0, reason: "completed", error: undefined, frames: input.keepFrames ? input.candidates.map(() => []) : undefined, engineUs: 0 };
  const parts = partsOf(k, input.lanesPerRequestMax, input.idPrefix);
  const cancelAll = (): void => parts.forEach((p) => input.engine.cancel(p.id));
  input.signal.addEventListener("abort", cancelAll, { once: true });
  try {
    const ends = await Promise.all(parts.map((part) => runPart(input, part, perFrame, generated, out)));
    for (const end of ends) {
      out.engineUs = Math.max(out.engineUs, end.engineUs);
      if (end.reason !== "completed" && out.reason === "completed") {
        out.reason = end.reason;
        out.error = end.error;
      }
    }
  } finally {
    input.signal.removeEventListener("abort", cancelAll);
  }
  for (let c = 0; c < k; c++) {
    const partial = partialCost(perFrame[c]!.subarray(1, 1 + generated[c]!), input.aggregation);
    out.partialCosts.push(partial);
    out.costs.push(generated[c] === input.actionSteps ? partial : Infinity);
  }
  return out;
}

function partsOf(k: number, lanesMax: number, prefix: string): Part[] {
  const parts: Part[] = [];
  for (let first = 0, i = 0; first < k; first += lanesMax, i++) parts.push({ id: `${prefix}/p${i}`, first, count: Math.min(lanesMax, k - first) });
  return parts;
}

function runPart(input: IterationInput, part: Part, perFrame: Float64Array[], generated: number[], out: IterationOutcome): Promise<EngineEnd> {
  const lanes = input.candidates.slice(part.first, part.first + part.count) as Float32Array[];
  const live = new Set(lanes.map((_, i) => i));
  // A final-frame cost without pruning reads only the last frame: the other chunks need no scoring.
  const lastChunkOnly = input.aggregation.kind === "final" && input.pruning === undefined;
  return new Promise<EngineEnd>((resolve) => {
    const onChunk = (chunk: EngineChunk): void => {
      for (const lane of chunk.lanes) {
        const c = part.first + lane.candidateIndex;
        const costs = lane.costs;
        out.frames?.[c]!.push(...lane.frames);
        generated[c] = lane.firstFrameIndex - 1 + lane.frames.length;
        out.framesPerCandidate[c] = generated[c]!;
        if (costs === undefined && lastChunkOnly && generated[c]! < input.actionSteps) continue; // not scored, by design
        if (costs === undefined) {
          // The executor checks this already; should it slip, the plan fails rather than rank garbage.
          out.reason = "failed";
          out.error = new ServiceError("ENGINE_FAILURE", "the engine returned a chunk without its scores; the pre-debit was refunded");
          input.engine.cancel(part.id);
          return;
        }
        perFrame[c]!.set(costs, lane.firstFrameIndex);
      }
      if (input.pruning && generated[part.first + chunk.lanes[0]!.candidateIndex]! < input.actionSteps) prune(input, part, live, perFrame, generated, out);
    };
    try {
      input.engine.submit(
        { requestId: part.id, lanes, actionSteps: input.actionSteps, startFrame: input.startFrame, numSteps: input.numSteps, guidance: input.guidance, seed: input.seed, deadlineUs: input.deadlineUs, customerId: input.customerId, priority: input.priority, score: { ...input.score, lastChunkOnly }, chunkwise: input.pruning !== undefined },
        { onChunk, onEnd: resolve },
      );
    } catch (err) {
      // Queue full or draining: nothing of this part ran.
      resolve({ framesPerCandidate: lanes.map(() => 0), cancelled: [], reason: "failed", error: ServiceError.from(err), engineUs: 0, queueUs: 0 });
    }
  });
}

/** Successive halving at this chunk boundary, among this request's live candidates. */
function prune(input: IterationInput, part: Part, live: Set<number>, perFrame: Float64Array[], generated: number[], out: IterationOutcome): void {
  const partials = new Map<number, number>();
  for (const i of live) partials.set(i, partialCost(perFrame[part.first + i]!.subarray(1, 1 + generated[part.first + i]!), input.aggregation));
  const stop = pruneAtBoundary(partials, input.pruning!);
  if (stop.length === 0) return;
  for (const i of stop) live.delete(i);
  out.pruned += stop.length;
  input.engine.cancel(part.id, stop);
}
