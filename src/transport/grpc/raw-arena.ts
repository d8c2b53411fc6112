// The wire layout of a raw unary predict response, planned before the first chunk runs.
//
// Raw frames have a fixed size, so once K and T are known every byte offset of the finished
// PredictBatchResponse is known too, except the RequestSummary (settled last). The arena is one buffer
// laid out exactly as the message will go on the wire: headroom for the gRPC prefix and the summary,
// then each Rollout's key, length and scalar fields, then its frames' keys and lengths with a slot for
// each frame's bytes. The service copies frames into their slots as chunks finish
// (src/service/assemble.ts), and at send time the summary is written into the headroom just before the
// first rollout (field order is free in protobuf), so the response leaves with zero copies after the
// last chunk. PredictResponse (field 1 rollout, field 2 summary) has the same layout with one rollout.
//
// Anything that departs from the plan (a cancelled candidate with fewer frames, a different Rollout
// head) is detected at send time and falls back to the ordinary encoder; the frames are still valid
// views, so that path stays correct.
import { limits } from "../../core/limits";
import { RequestSummary, Rollout } from "../../gen/dream/v1/dream";
import type { RawResponseArena } from "../../service/context";
import { fieldSize, GRPC_PREFIX_BYTES, writeFieldHeader, writeGrpcPrefix } from "./wire";

const ROLLOUTS_FIELD = 1; // PredictBatchResponse.rollouts and PredictResponse.rollout
const SUMMARY_FIELD = 2; // .summary in both
const FRAMES_FIELD = 3; // Rollout.frames

interface ArenaPlan {
  buffer: Buffer;
  heads: Uint8Array[];
  framesPerRollout: number;
  frameBytes: number;
  /** Offset of each rollout's first frame field (its key). */
  frameFieldStarts: number[];
  frameFieldBytes: number;
  frameHeaderBytes: number;
  rolloutsStart: number;
  end: number;
}

// Keyed by the arena's ArrayBuffer: a response's frames are views into it, which is how a response
// is recognised at send time without anything travelling alongside it.
const plans = new WeakMap<ArrayBufferLike, ArenaPlan>();

const EMPTY = new Uint8Array(0);
const headOf = (r: Rollout): Uint8Array => Rollout.encode({ ...r, frames: [], video: EMPTY }).finish();

/** The gRPC transport's RawResponseLayout. Undefined when the message would exceed the send limit. */
export function planRawResponse(rollouts: readonly Rollout[], framesPerRollout: number, frameBytes: number): RawResponseArena | undefined {
  if (rollouts.length === 0 || framesPerRollout === 0) return undefined;
  const frameHeaderBytes = fieldSize(FRAMES_FIELD, frameBytes) - frameBytes;
  const frameFieldBytes = frameHeaderBytes + frameBytes;
  const heads = rollouts.map(headOf);
  const bodies = heads.map((h) => h.byteLength + framesPerRollout * frameFieldBytes);
  const rolloutsBytes = bodies.reduce((sum, b) => sum + fieldSize(ROLLOUTS_FIELD, b), 0);
  const headroom = limits.rawResponseHeadroomBytes;
  if (rolloutsBytes + headroom - GRPC_PREFIX_BYTES > limits.grpcSendBytesMax) return undefined;

  // allocUnsafeSlow: never a slice of Node's shared small-buffer pool, whose ArrayBuffer another arena
  // could share (arenas are recognised by their ArrayBuffer).
  const buffer = Buffer.allocUnsafeSlow(headroom + rolloutsBytes);
  const frameFieldStarts: number[] = [];
  let pos: number = headroom;
  rollouts.forEach((_, i) => {
    pos = writeFieldHeader(buffer, pos, ROLLOUTS_FIELD, bodies[i]!);
    buffer.set(heads[i]!, pos);
    pos += heads[i]!.byteLength;
    frameFieldStarts.push(pos);
    for (let f = 0; f < framesPerRollout; f++) {
      writeFieldHeader(buffer, pos, FRAMES_FIELD, frameBytes);
      pos += frameFieldBytes;
    }
  });
  const plan: ArenaPlan = { buffer, heads, framesPerRollout, frameBytes, frameFieldStarts, frameFieldBytes, frameHeaderBytes, rolloutsStart: headroom, end: pos };
  plans.set(buffer.buffer, plan);
  return { buffer, frameOffset: (candidate, frame) => frameOffset(plan, candidate, frame) };
}

const frameOffset = (plan: ArenaPlan, candidate: number, frame: number): number => plan.frameFieldStarts[candidate]! + frame * plan.frameFieldBytes + plan.frameHeaderBytes;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function matchesPlan(plan: ArenaPlan, rollouts: readonly Rollout[]): boolean {
  if (rollouts.length !== plan.heads.length) return false;
  return rollouts.every((r, c) => {
    if (r.video.byteLength !== 0 || r.frames.length !== plan.framesPerRollout || !sameBytes(headOf(r), plan.heads[c]!)) return false;
    return r.frames.every((frame, f) => frame.buffer === plan.buffer.buffer && frame.byteLength === plan.frameBytes && frame.byteOffset === plan.buffer.byteOffset + frameOffset(plan, c, f));
  });
}

/**
 * The whole gRPC-framed message (5-byte prefix included) when `rollouts` are exactly an arena's
 * planned rollouts with every frame in its slot; undefined otherwise (then encode normally).
 */
export function framedRawResponse(rollouts: readonly Rollout[], summary: RequestSummary | undefined): Buffer | undefined {
  const first = rollouts[0]?.frames[0];
  const plan = first ? plans.get(first.buffer) : undefined;
  if (!plan || !matchesPlan(plan, rollouts)) return undefined;
  const summaryBytes = summary ? RequestSummary.encode(summary).finish() : EMPTY;
  const summaryFieldBytes = summary ? fieldSize(SUMMARY_FIELD, summaryBytes.byteLength) : 0;
  const start = plan.rolloutsStart - summaryFieldBytes - GRPC_PREFIX_BYTES;
  if (start < 0) return undefined;
  writeGrpcPrefix(plan.buffer, start, plan.end - start - GRPC_PREFIX_BYTES);
  if (summary) plan.buffer.set(summaryBytes, writeFieldHeader(plan.buffer, start + GRPC_PREFIX_BYTES, SUMMARY_FIELD, summaryBytes.byteLength));
  return plan.buffer.subarray(start, plan.end);
}
