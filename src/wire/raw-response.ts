// The wire layout of a raw (RAW_RGB8) unary predict response, as far as both ends need to agree on it:
// the server's arena (transport/grpc/raw/raw-arena.ts) lays the message out this way, and the TypeScript
// client bounds the response's size from its own request to receive it into memory faulted in ahead.
import { fieldSize } from "./framing";

export const ROLLOUTS_FIELD = 1; // PredictBatchResponse.rollouts and PredictResponse.rollout
export const SUMMARY_FIELD = 2; // .summary in both
export const FRAMES_FIELD = 3; // Rollout.frames

/**
 * Room ahead of a raw response's frames for the 5-byte gRPC prefix and the RequestSummary, written
 * once the request settles (a summary is ~100 bytes: ids <= 64, a slug, the charge, counts).
 */
export const RAW_RESPONSE_HEADROOM_BYTES = 1024;

/** A Rollout's own fields besides its frames (index, key, length, counters) stay below this. */
export const ROLLOUT_HEAD_BYTES_MAX = 64;

/**
 * An upper bound on the framed size of a raw response carrying, per rollout, `stepsPerRollout[i] + 1`
 * frames of `frameBytes` each (the start frame and one per action step); undefined when the request
 * does not say enough to know it.
 */
export function rawResponseBytesBound(frameBytes: number, stepsPerRollout: readonly number[]): number | undefined {
  if (!(frameBytes > 0) || stepsPerRollout.length === 0 || stepsPerRollout.some((t) => !(t > 0))) return undefined;
  const frames = stepsPerRollout.reduce((sum, t) => sum + t + 1, 0);
  return RAW_RESPONSE_HEADROOM_BYTES + ROLLOUT_HEAD_BYTES_MAX * stepsPerRollout.length + frames * fieldSize(FRAMES_FIELD, frameBytes);
}
