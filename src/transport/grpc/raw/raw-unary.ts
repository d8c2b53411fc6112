// Which unary responses are assembled in a raw arena (Predict, PredictBatch), and how such a response
// goes back to grpc-js: as a PreFramed value built from the arena this call planned. The arena is held
// in the call's own closure (layout plans it, reply asks it), so nothing has to recognise a response by
// its buffers later, and two calls can never be confused.
import { ModelsService, type PredictBatchResponse, type PredictResponse, type RequestSummary, type Rollout } from "../../../gen/dream/v1/dream";
import type { RawResponseLayout } from "../../../service/context";
import { PreFramed } from "./preframed";
import type { ArenaPool } from "../../arena-pool";
import { planRawResponse, type RawArena } from "./raw-arena";

type RolloutsOf = (response: unknown) => { rollouts: readonly Rollout[]; summary: RequestSummary | undefined };

const RAW_UNARY = new Map<string, RolloutsOf>([
  [
    ModelsService.predict.path,
    (m) => {
      const { rollout, summary } = m as PredictResponse;
      return { rollouts: rollout ? [rollout] : [], summary };
    },
  ],
  [ModelsService.predictBatch.path, (m) => ({ rollouts: (m as PredictBatchResponse).rollouts, summary: (m as PredictBatchResponse).summary })],
]);

export interface RawUnaryCall {
  /** For the service (ctx.rawResponseLayout): plans this call's arena and remembers it. */
  layout: RawResponseLayout;
  /** What to hand grpc-js for the handler's response: a PreFramed when it is exactly the arena's plan, else the response itself. */
  reply(response: unknown): unknown;
}

/**
 * Per-call raw responses for `path`, or undefined for a method without them. With a pool, a sent
 * response's buffer is reused (that needs the pre-framed send, which tells when the bytes have left).
 */
export function rawUnaryCall(path: string, pool: ArenaPool | undefined): RawUnaryCall | undefined {
  const rolloutsOf = RAW_UNARY.get(path);
  if (rolloutsOf === undefined) return undefined;
  let arena: RawArena | undefined;
  return {
    layout: (rollouts, framesPerRollout, frameBytes) => (arena = planRawResponse(rollouts, framesPerRollout, frameBytes, pool)),
    reply: (response) => {
      const planned = arena;
      const { rollouts, summary } = rolloutsOf(response);
      const framed = planned?.framed(rollouts, summary);
      return framed && planned ? new PreFramed(framed, () => planned.release()) : response;
    },
  };
}
