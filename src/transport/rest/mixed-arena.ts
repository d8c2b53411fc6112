// The REST counterpart of transport/grpc/raw/raw-arena.ts: a raw predict response laid out as its final
// multipart/mixed body (one part per frame, the same headers writeMixed gives it) in one buffer, before
// the first chunk runs. The service copies each frame into its slot as its chunk finishes
// (src/service/assemble.ts, through ctx.rawResponseLayout), so after the last chunk the body goes out
// as it is: no serialization of 361 MB (K=8 T=48 480x640), no 392 x 3 writes, no copy.
//
// A part's delimiter and headers are written with its frame (putFrame) or when its slot is faulted in
// ahead (touchFrame), not at plan time: writing 392 heads spread over 361 MB would fault in most of the
// buffer synchronously before the engine starts. Anything that departs from the plan (a cancelled
// candidate with fewer frames) is not sent from here; the frames are valid views, so the ordinary
// writer (predict-extras.ts) sends it instead. After the body has left (the response's 'finish'),
// the buffer goes back to a pool for the next response of the same size.

import { randomBytes } from "node:crypto";
import { limits } from "../../core/limits";
import type { Rollout } from "../../gen/dream/v1/dream";
import { FrameEncoding } from "../../gen/dream/v1/dream";
import type { RawResponseArena, RawResponseLayout } from "../../service/context";
import type { ArenaPool } from "../arena-pool";

interface Plan {
  boundary: string;
  candidateIndexes: number[];
  height: number;
  width: number;
  framesPerRollout: number;
  frameBytes: number;
  /** Part p = candidate * framesPerRollout + frame: where its head starts, and the head itself. */
  headStarts: number[];
  heads: Buffer[];
  end: number;
}

const CRLF = Buffer.from("\r\n");

/** The same header lines, in the same order, as predict-extras' rolloutParts + multipartMixed. */
function headOf(boundary: string, candidate: number, frame: number, height: number, width: number, frameBytes: number): Buffer {
  return Buffer.from(
    `--${boundary}\r\nContent-Type: application/octet-stream\r\nX-DreamEngine-Candidate-Index: ${candidate}\r\nX-DreamEngine-Frame-Index: ${frame}\r\n` +
      `X-DreamEngine-Frame-Height: ${height}\r\nX-DreamEngine-Frame-Width: ${width}\r\nContent-Length: ${frameBytes}\r\n\r\n`,
    "latin1",
  );
}

export class MixedArena implements RawResponseArena {
  private readonly keyed: Uint8Array;
  private released = false;

  constructor(
    readonly buffer: Buffer,
    private readonly plan: Plan,
    readonly warm: boolean,
    private readonly pool: ArenaPool | undefined,
  ) {
    this.keyed = new Uint8Array(plan.heads.length);
    buffer.write(`--${plan.boundary}--\r\n`, plan.end - closingBytes(plan.boundary), "latin1");
  }

  get contentType(): string {
    return `multipart/mixed; boundary=${this.plan.boundary}`;
  }

  frameOffset(candidate: number, frame: number): number {
    const p = this.part(candidate, frame);
    return this.plan.headStarts[p]! + this.plan.heads[p]!.byteLength;
  }

  putFrame(candidate: number, frame: number, bytes: Uint8Array): void {
    if (bytes.byteLength !== this.plan.frameBytes) throw new RangeError(`mixed arena: frame ${frame} of candidate ${candidate} has ${bytes.byteLength} bytes, the plan ${this.plan.frameBytes}`);
    this.buffer.set(bytes, this.slot(candidate, frame));
  }

  touchFrame(candidate: number, frame: number): void {
    const at = this.slot(candidate, frame);
    this.buffer.fill(0, at, at + this.plan.frameBytes);
  }

  /** The whole body when `rollouts` are exactly the plan with every frame a view of its slot; else undefined. */
  body(rollouts: readonly Rollout[]): Buffer | undefined {
    if (this.released || !this.matches(rollouts)) return undefined;
    return this.buffer.subarray(0, this.plan.end);
  }

  /** The body has left (or will never be sent from here): the buffer may serve the next response. */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.pool?.give(this.buffer);
  }

  private part(candidate: number, frame: number): number {
    const { candidateIndexes, framesPerRollout } = this.plan;
    if (candidate < 0 || candidate >= candidateIndexes.length || frame < 0 || frame >= framesPerRollout) throw new RangeError(`mixed arena: no slot for frame ${frame} of candidate ${candidate}`);
    return candidate * framesPerRollout + frame;
  }

  /** Writes a part's head and trailing CRLF; returns where its frame goes. */
  private slot(candidate: number, frame: number): number {
    const p = this.part(candidate, frame);
    const head = this.plan.heads[p]!;
    const at = this.plan.headStarts[p]! + head.byteLength;
    this.buffer.set(head, this.plan.headStarts[p]!);
    this.buffer.set(CRLF, at + this.plan.frameBytes);
    this.keyed[p] = 1;
    return at;
  }

  private matches(rollouts: readonly Rollout[]): boolean {
    const { candidateIndexes, framesPerRollout, frameBytes, height, width } = this.plan;
    if (rollouts.length !== candidateIndexes.length || this.keyed.includes(0)) return false;
    return rollouts.every((r, c) => {
      if (r.encoding !== FrameEncoding.RAW_RGB8 || r.video.byteLength !== 0 || r.candidateIndex !== candidateIndexes[c] || r.height !== height || r.width !== width) return false;
      if (r.frames.length !== framesPerRollout) return false;
      return r.frames.every((frame, f) => frame.buffer === this.buffer.buffer && frame.byteLength === frameBytes && frame.byteOffset === this.buffer.byteOffset + this.frameOffset(c, f));
    });
  }
}

const closingBytes = (boundary: string): number => boundary.length + 6; // "--" boundary "--\r\n"

/** Plans the multipart/mixed body for `rollouts`, each `framesPerRollout` raw frames; undefined if too big. */
export function planMixedResponse(rollouts: readonly Rollout[], framesPerRollout: number, frameBytes: number, pool?: ArenaPool): MixedArena | undefined {
  if (rollouts.length === 0 || framesPerRollout === 0) return undefined;
  // 24 random hex characters, as multipartMixed: a frame containing the boundary is negligible (2^-96 per offset).
  const boundary = `dream-${randomBytes(12).toString("hex")}`;
  const { height, width } = rollouts[0]!;
  const heads: Buffer[] = [];
  const headStarts: number[] = [];
  let pos = 0;
  for (const r of rollouts) {
    for (let f = 0; f < framesPerRollout; f++) {
      const head = headOf(boundary, r.candidateIndex, f, r.height, r.width, frameBytes);
      headStarts.push(pos);
      heads.push(head);
      pos += head.byteLength + frameBytes + CRLF.byteLength;
    }
  }
  const end = pos + closingBytes(boundary);
  if (end > limits.httpRawResponseBytesMax) return undefined;
  const plan: Plan = { boundary, candidateIndexes: rollouts.map((r) => r.candidateIndex), height, width, framesPerRollout, frameBytes, headStarts, heads, end };
  const reused = pool?.take(end);
  // allocUnsafeSlow: an ArrayBuffer of its own, so "a view of this ArrayBuffer" can only mean this arena.
  return new MixedArena(reused ?? Buffer.allocUnsafeSlow(end), plan, reused !== undefined, pool);
}

/** One REST call's raw layout (for ctx.rawResponseLayout) and the arena it planned, if any. */
export function mixedArenaCall(pool: ArenaPool | undefined): { layout: RawResponseLayout; arena(): MixedArena | undefined } {
  let arena: MixedArena | undefined;
  return {
    layout: (rollouts, framesPerRollout, frameBytes) => {
      // Rollouts of different geometry cannot happen in one response; refuse rather than mislabel.
      if (rollouts.some((r) => r.height !== rollouts[0]!.height || r.width !== rollouts[0]!.width)) return undefined;
      arena = planMixedResponse(rollouts, framesPerRollout, frameBytes, pool);
      return arena;
    },
    arena: () => arena,
  };
}
