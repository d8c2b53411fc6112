// Collects a unary predict's frames per candidate as chunks arrive, so that the work of building the
// response overlaps the remaining chunks: encoded outputs feed each candidate's encoder immediately
// (PNG/JPEG per frame, MP4 through ffmpeg); raw output over a transport with a raw layout (gRPC) is
// copied straight into the response's final buffer.
import { FrameEncoding, type Rollout } from "../gen/dream/v1/dream";
import type { RawResponseArena, RawResponseLayout } from "./context";
import type { CodecPort, EngineChunk, RolloutEncoder } from "./ports";
import type { ValidatedOutput } from "./validate";

export interface UnaryAssembler {
  /** Takes the chunk's frames; never returns a promise (see RolloutAssembler.onChunk). */
  onChunk(chunk: EngineChunk): void;
  /** Waits for every queued frame to be placed or encoded; rejects if an encoder failed. */
  drain(): Promise<void>;
  finish(cancelled: number[]): Promise<Rollout[]>;
  abort(): void;
}

export interface AssemblerShape {
  height: number;
  width: number;
  fps: number;
  candidates: number;
  /** Frames of a complete rollout: the start frame + one per action. */
  framesPerRollout: number;
  /** Batch work: its encoders run at a lower CPU priority (CodecPort.openRolloutEncoders). */
  background?: boolean;
}

export async function openAssembler(codecs: CodecPort, output: ValidatedOutput, shape: AssemblerShape, layout: RawResponseLayout | undefined): Promise<UnaryAssembler> {
  if (output.encoding === "RAW_RGB8" && layout) {
    const arena = RawArenaAssembler.open(layout, shape);
    if (arena) return arena;
  }
  return RolloutAssembler.open(codecs, output, shape, shape.candidates);
}

function rolloutFields(output: ValidatedOutput, geometry: { height: number; width: number }, candidateIndex: number, frameCount: number, cancelled: boolean): Rollout {
  return {
    candidateIndex,
    encoding: FrameEncoding[output.encoding],
    frames: [],
    video: new Uint8Array(0),
    frameCount,
    height: geometry.height,
    width: geometry.width,
    jpegQuality: output.encoding === "JPEG" ? output.jpegQuality : 0,
    cancelled,
  };
}

const RAW_OUTPUT: ValidatedOutput = { encoding: "RAW_RGB8", jpegQuality: 0 };

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * A failed copy or encode surfaces through drain(); if the request fails first and nobody drains, the
 * rejection must not become an unhandled rejection (which ends the process).
 */
const handled = (p: Promise<void>): void => void p.catch(() => undefined);

/**
 * Raw frames copied into a transport-planned arena as each chunk arrives. A K=8 T=48 480×640 response
 * is 361 MB: serializing it after the last chunk cost 0.3–0.5 s of pure copying, serial with nothing;
 * here that copy happens while the next chunk computes. One lane per event-loop turn (~11 MB), so other
 * calls are not held up behind a whole chunk's copy. The rollouts' frames are views into the arena.
 */
export class RawArenaAssembler implements UnaryAssembler {
  private readonly pushed: number[];
  private chain: Promise<void> = Promise.resolve();
  private aborted = false;

  private constructor(
    private readonly arena: RawResponseArena,
    private readonly shape: AssemblerShape,
    private readonly frameBytes: number,
  ) {
    this.pushed = new Array<number>(shape.candidates).fill(0);
  }

  static open(layout: RawResponseLayout, shape: AssemblerShape): RawArenaAssembler | undefined {
    const planned = Array.from({ length: shape.candidates }, (_, i) => rolloutFields(RAW_OUTPUT, shape, i, shape.framesPerRollout, false));
    const frameBytes = shape.height * shape.width * 3;
    const arena = layout(planned, shape.framesPerRollout, frameBytes);
    if (!arena) return undefined;
    const assembler = new RawArenaAssembler(arena, shape, frameBytes);
    if (!arena.warm) assembler.prefault();
    return assembler;
  }

  /**
   * Touches every frame slot once, a few frames per event-loop turn, ahead of the first chunk. A fresh
   * 361 MB buffer takes ~90k page faults on first write, which made copying a chunk ~4x slower than
   * copying into warm memory; faulting while the first chunk computes keeps that off the copy of the
   * last chunk, which nothing overlaps. Queued on the same chain as the chunk copies, so it can never
   * overwrite a frame. Skipped for a reused (warm) arena.
   */
  private prefault(): void {
    const { candidates, framesPerRollout } = this.shape;
    const framesPerTurn = 8;
    this.chain = this.chain.then(async () => {
      for (let n = 0; n < candidates * framesPerRollout; n += framesPerTurn) {
        for (let i = n; i < Math.min(n + framesPerTurn, candidates * framesPerRollout); i++) {
          this.arena.touchFrame(Math.floor(i / framesPerRollout), i % framesPerRollout);
        }
        if (this.aborted) return;
        await nextTurn();
      }
    });
  }

  onChunk(chunk: EngineChunk): void {
    this.chain = this.chain.then(async () => {
      for (const lane of chunk.lanes) {
        if (this.aborted) return;
        const c = lane.candidateIndex;
        lane.frames.forEach((frame, j) => {
          const f = lane.firstFrameIndex + j;
          if (frame.byteLength !== this.frameBytes || f >= this.shape.framesPerRollout) throw new Error(`raw arena: frame ${f} of candidate ${c} does not fit the planned response`);
          this.arena.putFrame(c, f, frame);
          this.pushed[c] = Math.max(this.pushed[c]!, f + 1);
        });
        await nextTurn();
      }
    });
    handled(this.chain);
  }

  async drain(): Promise<void> {
    await this.chain;
  }

  async finish(cancelled: number[]): Promise<Rollout[]> {
    const cancelledSet = new Set(cancelled);
    await this.drain();
    return this.pushed.map((count, c) => ({
      ...rolloutFields(RAW_OUTPUT, this.shape, c, count, cancelledSet.has(c)),
      frames: Array.from({ length: count }, (_, f) => {
        const at = this.arena.frameOffset(c, f);
        return this.arena.buffer.subarray(at, at + this.frameBytes);
      }),
    }));
  }

  abort(): void {
    this.aborted = true;
  }
}

export class RolloutAssembler implements UnaryAssembler {
  private readonly pushed: number[];
  private readonly chains: Promise<void>[];

  private constructor(
    private readonly encoders: RolloutEncoder[],
    private readonly output: ValidatedOutput,
    private readonly geometry: { height: number; width: number; fps: number },
  ) {
    this.pushed = new Array<number>(encoders.length).fill(0);
    this.chains = encoders.map(() => Promise.resolve());
  }

  static async open(codecs: CodecPort, output: ValidatedOutput, geometry: { height: number; width: number; fps: number; background?: boolean }, candidates: number): Promise<RolloutAssembler> {
    const encoders = await codecs.openRolloutEncoders(candidates, output.encoding, { height: geometry.height, width: geometry.width, fps: geometry.fps, jpegQuality: output.jpegQuality, ...(geometry.background ? { background: true } : {}) });
    return new RolloutAssembler(encoders, output, geometry);
  }

  /**
   * Queues the chunk's frames onto each candidate's encoder, one frame at a time per encoder and the
   * candidates in parallel. Returns nothing on purpose: the scheduler cuts off consumers that fall
   * behind, which is right for streams but not for a unary response, whose frames are held until the
   * response is sent anyway (so the queue is bounded by the response itself).
   */
  onChunk(chunk: EngineChunk): void {
    for (const lane of chunk.lanes) {
      const i = lane.candidateIndex;
      const encoder = this.encoders[i]!;
      this.chains[i] = this.chains[i]!.then(async () => {
        for (const frame of lane.frames) {
          await encoder.push(frame);
          this.pushed[i]!++;
        }
      });
      handled(this.chains[i]!);
    }
  }

  async drain(): Promise<void> {
    await Promise.all(this.chains);
  }

  async finish(cancelled: number[]): Promise<Rollout[]> {
    const cancelledSet = new Set(cancelled);
    await this.drain();
    const results = await Promise.all(this.encoders.map((e) => e.finish()));
    return results.map((r, i) => ({
      ...rolloutFields(this.output, this.geometry, i, this.pushed[i]!, cancelledSet.has(i)),
      frames: r.frames,
      video: r.video ?? new Uint8Array(0),
    }));
  }

  abort(): void {
    for (const e of this.encoders) e.abort();
  }
}
