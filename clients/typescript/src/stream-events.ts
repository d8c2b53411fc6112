// StreamPredict's messages as a discriminated union: the proto's `oneof event` (dream.proto) with the
// case name as `kind` and the message's fields spread beside it.
import type { CandidateFrames, FrameEncoding, RequestSummary, StreamPredictResponse } from "../../../src/gen/dream/v1/dream";

/**
 * One finished chunk: every still-running candidate's new frames, in chunk order. Chunk 0 of each
 * candidate starts with the conditioning start frame (first_frame_index 0), so the frames of a
 * candidate across chunks concatenate into its rollout; a candidate cancelled (CancelCandidates)
 * stops appearing.
 */
export interface ChunkEvent {
  kind: "chunk";
  chunkIndex: number;
  encoding: FrameEncoding;
  candidates: CandidateFrames[];
}

/** The last event of a stream that ran to its end: what was generated and charged. */
export interface SummaryEvent {
  kind: "summary";
  summary: RequestSummary;
  /** Frames delivered per candidate, start frame included (T + 1 for one that ran to the end). */
  framesPerCandidate: number[];
  cancelledCandidates: number[];
}

export type StreamEvent = ChunkEvent | SummaryEvent;

/** The event a message carries; undefined for one with no case set (a newer server's addition). */
export function eventOf(m: StreamPredictResponse): StreamEvent | undefined {
  const e = m.event;
  if (e?.$case === "chunk") return { kind: "chunk", chunkIndex: e.value.chunkIndex, encoding: e.value.encoding, candidates: e.value.candidates };
  if (e?.$case === "summary") {
    if (!e.value.summary) return undefined; // the server always sets it; a summary without one says nothing
    return { kind: "summary", summary: e.value.summary, framesPerCandidate: e.value.framesPerCandidate, cancelledCandidates: e.value.cancelledCandidates };
  }
  return undefined;
}
