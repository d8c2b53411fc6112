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
// The arena is asked, by whoever planned it (the unary adapter, raw-unary.ts), whether a response is
// exactly its plan: framed(rollouts, summary). Anything that departs from the plan (a cancelled
// candidate with fewer frames, a different Rollout head) answers undefined and goes through the
// ordinary encoder; the frames are still valid views, so that path stays correct.
//
// Planning touches only the rollout heads: each frame's key is written with the frame (putFrame) or
// when its slot is faulted in ahead (touchFrame), because writing 392 keys spread over 361 MB faults
// in most of the buffer synchronously, before the engine has even started. Once a response's bytes
// have left (the transport's write completed), release() gives its buffer back to an ArenaPool and the
// next response of the same size reuses it, already faulted in.
import { limits } from "../../../core/limits";
import { RequestSummary, Rollout } from "../../../gen/dream/v1/dream";
import type { RawResponseArena } from "../../../service/context";
import type { ArenaPool } from "../../arena-pool";
import { fieldSize, GRPC_PREFIX_BYTES, writeFieldHeader, writeGrpcPrefix } from "../../../wire/framing";
import { FRAMES_FIELD, RAW_RESPONSE_HEADROOM_BYTES, ROLLOUTS_FIELD, SUMMARY_FIELD } from "../../../wire/raw-response";

const EMPTY = new Uint8Array(0);
const headOf = (r: Rollout): Uint8Array => Rollout.encode({ ...r, frames: [], video: EMPTY }).finish();

/** Arenas given back after their response left, and plans that reused one, since the process started. */
const counters = { released: 0, reused: 0 };
export const rawArenaCounters = (): Readonly<typeof counters> => ({ ...counters });

/** Where everything goes in an arena, fixed when it is planned. */
interface Layout {
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

function layoutOf(rollouts: readonly Rollout[], framesPerRollout: number, frameBytes: number): Layout {
  const frameHeaderBytes = fieldSize(FRAMES_FIELD, frameBytes) - frameBytes;
  const frameFieldBytes = frameHeaderBytes + frameBytes;
  const heads = rollouts.map(headOf);
  const frameFieldStarts: number[] = [];
  let pos: number = RAW_RESPONSE_HEADROOM_BYTES;
  for (const head of heads) {
    pos += fieldSize(ROLLOUTS_FIELD, head.byteLength + framesPerRollout * frameFieldBytes) - framesPerRollout * frameFieldBytes;
    frameFieldStarts.push(pos);
    pos += framesPerRollout * frameFieldBytes;
  }
  return { heads, framesPerRollout, frameBytes, frameFieldStarts, frameFieldBytes, frameHeaderBytes, rolloutsStart: RAW_RESPONSE_HEADROOM_BYTES, end: pos };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** One planned response: the service fills it through RawResponseArena; the transport frames and releases it. */
export class RawArena implements RawResponseArena {
  /** 1 where a frame's key has been written (candidate-major): only fully keyed arenas are sent as they are. */
  private readonly keyed: Uint8Array;
  private released = false;

  constructor(
    readonly buffer: Buffer,
    private readonly layout: Layout,
    readonly warm: boolean,
    /** Where the buffer goes back once the response has left; none for unpooled arenas. */
    private readonly pool: ArenaPool | undefined,
  ) {
    this.keyed = new Uint8Array(layout.heads.length * layout.framesPerRollout);
    let pos = layout.rolloutsStart;
    layout.heads.forEach((head, i) => {
      pos = writeFieldHeader(buffer, pos, ROLLOUTS_FIELD, head.byteLength + layout.framesPerRollout * layout.frameFieldBytes);
      buffer.set(head, pos);
      pos = layout.frameFieldStarts[i]! + layout.framesPerRollout * layout.frameFieldBytes;
    });
  }

  frameOffset(candidate: number, frame: number): number {
    return this.layout.frameFieldStarts[candidate]! + frame * this.layout.frameFieldBytes + this.layout.frameHeaderBytes;
  }

  putFrame(candidate: number, frame: number, bytes: Uint8Array): void {
    if (bytes.byteLength !== this.layout.frameBytes) throw new RangeError(`raw arena: frame ${frame} of candidate ${candidate} has ${bytes.byteLength} bytes, the plan ${this.layout.frameBytes}`);
    this.buffer.set(bytes, this.slot(candidate, frame));
  }

  touchFrame(candidate: number, frame: number): void {
    const at = this.slot(candidate, frame);
    this.buffer.fill(0, at, at + this.layout.frameBytes);
  }

  /** Keys a frame's slot and returns where its bytes go. */
  private slot(candidate: number, frame: number): number {
    const { heads, framesPerRollout, frameBytes, frameHeaderBytes } = this.layout;
    if (candidate < 0 || candidate >= heads.length || frame < 0 || frame >= framesPerRollout) throw new RangeError(`raw arena: no slot for frame ${frame} of candidate ${candidate}`);
    const at = this.frameOffset(candidate, frame);
    writeFieldHeader(this.buffer, at - frameHeaderBytes, FRAMES_FIELD, frameBytes);
    this.keyed[candidate * framesPerRollout + frame] = 1;
    return at;
  }

  /**
   * The whole gRPC-framed message (5-byte prefix included) when `rollouts` are exactly this arena's
   * planned rollouts with every frame a view of its own slot; undefined otherwise (then encode
   * normally), and always once released (the buffer may hold another response by then).
   */
  framed(rollouts: readonly Rollout[], summary: RequestSummary | undefined): Buffer | undefined {
    if (this.released || !this.matches(rollouts)) return undefined;
    const summaryBytes = summary ? RequestSummary.encode(summary).finish() : EMPTY;
    const summaryFieldBytes = summary ? fieldSize(SUMMARY_FIELD, summaryBytes.byteLength) : 0;
    const { rolloutsStart, end } = this.layout;
    const start = rolloutsStart - summaryFieldBytes - GRPC_PREFIX_BYTES;
    if (start < 0) return undefined;
    writeGrpcPrefix(this.buffer, start, end - start - GRPC_PREFIX_BYTES);
    if (summary) this.buffer.set(summaryBytes, writeFieldHeader(this.buffer, start + GRPC_PREFIX_BYTES, SUMMARY_FIELD, summaryBytes.byteLength));
    return this.buffer.subarray(start, end);
  }

  private matches(rollouts: readonly Rollout[]): boolean {
    const { heads, framesPerRollout, frameBytes } = this.layout;
    if (rollouts.length !== heads.length || this.keyed.includes(0)) return false;
    return rollouts.every((r, c) => {
      if (r.video.byteLength !== 0 || r.frames.length !== framesPerRollout || !sameBytes(headOf(r), heads[c]!)) return false;
      return r.frames.every((frame, f) => frame.buffer === this.buffer.buffer && frame.byteLength === frameBytes && frame.byteOffset === this.buffer.byteOffset + this.frameOffset(c, f));
    });
  }

  /**
   * Called once this arena's framed response has been written out: the buffer is free for the next
   * response. An unpooled arena is only marked released; releasing twice is a no-op.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    if (!this.pool) return;
    counters.released++;
    this.pool.give(this.buffer);
  }
}

/**
 * The gRPC transport's RawResponseLayout. Undefined when the message would exceed the send limit.
 * With a pool, the buffer may be a reused one (`warm`); release() gives it back.
 */
export function planRawResponse(rollouts: readonly Rollout[], framesPerRollout: number, frameBytes: number, pool?: ArenaPool): RawArena | undefined {
  if (rollouts.length === 0 || framesPerRollout === 0) return undefined;
  const layout = layoutOf(rollouts, framesPerRollout, frameBytes);
  if (layout.end - GRPC_PREFIX_BYTES > limits.grpcSendBytesMax) return undefined;
  const reused = pool?.take(layout.end);
  if (reused) counters.reused++;
  // allocUnsafeSlow: an ArrayBuffer of its own, never a slice of Node's shared small-buffer pool, so
  // "a view of this ArrayBuffer at a slot's offset" (matches) can only mean a view of this arena.
  return new RawArena(reused ?? Buffer.allocUnsafeSlow(layout.end), layout, reused !== undefined, pool);
}
