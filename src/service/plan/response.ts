// The decision as it crosses the wire: the best sequence and its cost, the last iteration's costs and
// ranking, per-iteration stats, the summary, and the rollouts asked for (best / top-k of the last
// iteration, encoded frames; frame 0 is the start frame as in every rollout). Nothing else.
import { FrameEncoding, type Rollout, type RequestSummary } from "../../gen/dream/v1/dream";
import type { PlanResponse } from "../../gen/dream/v1/planning";
import { rankByCost } from "../../planning/rank";
import type { CodecPort } from "../ports";
import type { AdmittedPlan } from "./admit-plan";
import type { PlanRun } from "./run-plan";

export async function planResponse(codecs: CodecPort, p: AdmittedPlan, run: PlanRun, summary: RequestSummary): Promise<PlanResponse> {
  const best = run.planner.best;
  const last = run.last;
  const ranking = last ? rankByCost(last.costs) : [];
  return {
    bestActions: best ? { data: new Uint8Array(best.sequence.buffer, best.sequence.byteOffset, best.sequence.byteLength), shape: [p.spec.actionSteps, p.slot.entry.actionDim] } : undefined,
    bestCost: best?.cost ?? NaN,
    bestIteration: best?.iteration ?? 0,
    // A pruned candidate reports the cost over the frames it generated (what pruning compared).
    candidateCosts: last ? last.costs.map((c, i) => (Number.isFinite(c) ? c : last.partialCosts[i]!)) : [],
    ranking,
    iterations: run.stats,
    iterationsCompleted: run.stats.length,
    stopped: run.stopped,
    summary,
    rollouts: await rolloutsOf(codecs, p, run, ranking),
  };
}

async function rolloutsOf(codecs: CodecPort, p: AdmittedPlan, run: PlanRun, ranking: number[]): Promise<Rollout[]> {
  const { output } = p.spec;
  const frames = run.last?.frames;
  if (frames === undefined) return [];
  const count = Math.max(output.topK, output.bestRollout ? 1 : 0);
  const chosen = ranking.filter((c) => Number.isFinite(run.last!.costs[c]!)).slice(0, count);
  const [height, width] = p.slot.entry.resolution;
  const geometry = { height, width, jpegQuality: output.encoding.jpegQuality };
  return Promise.all(
    chosen.map(async (c): Promise<Rollout> => {
      const all = [p.startFrame, ...frames[c]!];
      const encoded = output.encoding.encoding === "RAW_RGB8" ? all : await Promise.all(all.map((f) => codecs.encodeFrame(output.encoding.encoding, f, geometry)));
      return {
        candidateIndex: c,
        encoding: FrameEncoding[output.encoding.encoding],
        frames: encoded,
        video: new Uint8Array(0),
        frameCount: all.length,
        height,
        width,
        jpegQuality: output.encoding.encoding === "JPEG" ? output.encoding.jpegQuality : 0,
        cancelled: false,
      };
    }),
  );
}
