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
//
// Planning touches only the rollout heads: each frame's key is written with the frame (putFrame) or
// when its slot is faulted in ahead (touchFrame), because writing 392 keys spread over 361 MB faults
// in most of the buffer synchronously, before the engine has even started. Once a response's bytes
// have left (the transport's write completed), its buffer goes back to an ArenaPool and the next
// response of the same size reuses it, already faulted in.
import { limits } from "../../core/limits";
import { RequestSummary, Rollout } from "../../gen/dream/v1/dream";
import type { RawResponseArena } from "../../service/context";
import { fieldSize, GRPC_PREFIX_BYTES, writeFieldHeader, writeGrpcPrefix } from "../../wire/framing";
import { FRAMES_FIELD, RAW_RESPONSE_HEADROOM_BYTES, ROLLOUTS_FIELD, SUMMARY_FIELD } from "../../wire/raw-response";

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
  /** Where the buffer goes back once the response has left; none for unpooled arenas. */
  pool?: ArenaPool;
  /** 1 where a frame's key has been written (candidate-major): only fully keyed arenas are sent as they are. */
  keyed: Uint8Array;
}

// Keyed by the arena's ArrayBuffer: a response's frames are views into it, which is how a response
// is recognised at send time without anything travelling alongside it.
const plans = new WeakMap<ArrayBufferLike, ArenaPlan>();

const EMPTY = new Uint8Array(0);
const headOf = (r: Rollout): Uint8Array => Rollout.encode({ ...r, frames: [], video: EMPTY }).finish();

/** Arenas given back after their response left, and plans that reused one, since the process started. */
const counters = { released: 0, reused: 0 };
export const rawArenaCounters = (): Readonly<typeof counters> => ({ ...counters });

/**
 * Buffers of responses whose bytes have left, for reuse by the next response of the same size (an MPC
 * loop repeats one shape). Bounded by total bytes; the oldest go first.
 */
export class ArenaPool {
  private readonly free: Buffer[] = [];

  constructor(private readonly bytesMax: number = limits.rawArenaPoolBytesMax) {}

  take(bytes: number): Buffer | undefined {
    const i = this.free.findIndex((b) => b.byteLength === bytes);
    return i < 0 ? undefined : this.free.splice(i, 1)[0];
  }

  give(buffer: Buffer): void {
    if (buffer.byteLength > this.bytesMax || this.free.includes(buffer)) return;
    this.free.push(buffer);
    while (this.pooledBytes() > this.bytesMax) this.free.shift();
  }

  pooledBytes(): number {
    return this.free.reduce((sum, b) => sum + b.byteLength, 0);
  }
}

/**
 * The gRPC transport's RawResponseLayout. Undefined when the message would exceed the send limit.
 * With a pool, the buffer may be a reused one (`warm`); releaseRawResponse gives it back.
 */
export function planRawResponse(rollouts: readonly Rollout[], framesPerRollout: number, frameBytes: number, pool?: ArenaPool): RawResponseArena | undefined {
  if (rollouts.length === 0 || framesPerRollout === 0) return undefined;
  const frameHeaderBytes = fieldSize(FRAMES_FIELD, frameBytes) - frameBytes;
  const frameFieldBytes = frameHeaderBytes + frameBytes;
  const heads = rollouts.map(headOf);
  const bodies = heads.map((h) => h.byteLength + framesPerRollout * frameFieldBytes);
  const rolloutsBytes = bodies.reduce((sum, b) => sum + fieldSize(ROLLOUTS_FIELD, b), 0);
  const headroom = RAW_RESPONSE_HEADROOM_BYTES;
  if (rolloutsBytes + headroom - GRPC_PREFIX_BYTES > limits.grpcSendBytesMax) return undefined;

  const reused = pool?.take(headroom + rolloutsBytes);
  if (reused) counters.reused++;
  // allocUnsafeSlow: never a slice of Node's shared small-buffer pool, whose ArrayBuffer another arena
  // could share (arenas are recognised by their ArrayBuffer).
  const buffer = reused ?? Buffer.allocUnsafeSlow(headroom + rolloutsBytes);
  const frameFieldStarts: number[] = [];
  let pos: number = headroom;
  rollouts.forEach((_, i) => {
    pos = writeFieldHeader(buffer, pos, ROLLOUTS_FIELD, bodies[i]!);
    buffer.set(heads[i]!, pos);
    pos += heads[i]!.byteLength;
    frameFieldStarts.push(pos);
    pos += framesPerRollout * frameFieldBytes;
  });
  const plan: ArenaPlan = { buffer, heads, framesPerRollout, frameBytes, frameFieldStarts, frameFieldBytes, frameHeaderBytes, rolloutsStart: headroom, end: pos, pool, keyed: new Uint8Array(rollouts.length * framesPerRollout) };
  plans.set(buffer.buffer, plan);
  const slot = (candidate: number, frame: number): number => {
    if (candidate < 0 || candidate >= rollouts.length || frame < 0 || frame >= framesPerRollout) throw new RangeError(`raw arena: no slot for frame ${frame} of candidate ${candidate}`);
    const at = frameOffset(plan, candidate, frame);
    writeFieldHeader(buffer, at - frameHeaderBytes, FRAMES_FIELD, frameBytes);
    plan.keyed[candidate * framesPerRollout + frame] = 1;
    return at;
  };
  return {
    buffer,
    warm: reused !== undefined,
    frameOffset: (candidate, frame) => frameOffset(plan, candidate, frame),
    putFrame(candidate, frame, bytes) {
      if (bytes.byteLength !== frameBytes) throw new RangeError(`raw arena: frame ${frame} of candidate ${candidate} has ${bytes.byteLength} bytes, the plan ${frameBytes}`);
      buffer.set(bytes, slot(candidate, frame));
    },
    touchFrame(candidate, frame) {
      const at = slot(candidate, frame);
      buffer.fill(0, at, at + frameBytes);
    },
  };
}

/**
 * Called once a framed response's bytes have all been written out: its arena is free for the next
 * response. Anything that is not a pooled arena's framed response is ignored; releasing twice is a no-op.
 */
export function releaseRawResponse(framed: Uint8Array): void {
  const plan = plans.get(framed.buffer);
  if (!plan?.pool) return;
  plans.delete(framed.buffer);
  counters.released++;
  plan.pool.give(plan.buffer);
}

const frameOffset = (plan: ArenaPlan, candidate: number, frame: number): number => plan.frameFieldStarts[candidate]! + frame * plan.frameFieldBytes + plan.frameHeaderBytes;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function matchesPlan(plan: ArenaPlan, rollouts: readonly Rollout[]): boolean {
  if (rollouts.length !== plan.heads.length || plan.keyed.includes(0)) return false;
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
