// Models.Predict and Models.PredictBatch: unary rollouts. Predict is PredictBatch with K = 1.
import { invalidArgument } from "../core/errors";
import type { PredictBatchRequest, PredictBatchResponse, PredictRequest, PredictResponse } from "../gen/dream/v1/dream";
import { openAssembler, type UnaryAssembler } from "./assemble";
import type { CallContext } from "./context";
import { summaryHeaders, type PredictFlow, type PredictInput } from "./predict-flow";
import type { Account, CodecPort } from "./ports";

export async function predictBatch(flow: PredictFlow, codecs: CodecPort, input: PredictInput, ctx: CallContext, account: Account): Promise<PredictBatchResponse> {
  const admitted = await flow.admit(ctx, account, input);
  const [height, width] = admitted.slot.entry.resolution;
  let assembler: UnaryAssembler;
  try {
    const shape = { height, width, fps: admitted.slot.entry.fps, candidates: admitted.lanes.length, framesPerRollout: admitted.actionSteps + 1, background: admitted.priority === "batch" };
    assembler = await admitted.timing.time("layout", () => performance.now() * 1000, () => openAssembler(codecs, admitted.output, shape, ctx.rawResponseLayout));
  } catch (err) {
    await flow.abandon(admitted);
    throw err;
  }
  try {
    const settled = await flow.run(admitted, ctx, (chunk) => assembler.onChunk(chunk), () => assembler.drain());
    const rollouts = await assembler.finish(settled.end.cancelled);
    summaryHeaders(ctx, settled.summary);
    return { rollouts, summary: settled.summary };
  } catch (err) {
    assembler.abort();
    throw err;
  }
}

export function batchInput(req: PredictBatchRequest): PredictInput {
  return { model: req.model, startFrame: req.startFrame, candidates: req.candidates, params: req.params, output: req.output, deadlineMs: req.deadlineMs, requestId: req.requestId, priority: req.priority };
}

export function singleInput(req: PredictRequest): PredictInput {
  return { model: req.model, startFrame: req.startFrame, candidates: req.actions ? [req.actions] : [], params: req.params, output: req.output, deadlineMs: req.deadlineMs, requestId: req.requestId, priority: req.priority, fieldOf: () => "actions" };
}

export async function predict(flow: PredictFlow, codecs: CodecPort, req: PredictRequest, ctx: CallContext, account: Account): Promise<PredictResponse> {
  if (!req.actions) throw invalidArgument("actions", "required: float32 actions of shape (T, action_dim)");
  const res = await predictBatch(flow, codecs, singleInput(req), ctx, account);
  return { rollout: res.rollouts[0], summary: res.summary };
}
