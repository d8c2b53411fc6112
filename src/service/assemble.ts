// Collects a unary predict's frames per candidate as chunks arrive, feeding each candidate's encoder
// immediately (PNG/JPEG per frame, MP4 through ffmpeg), so encoding overlaps the remaining chunks.
import { FrameEncoding, type Rollout } from "../gen/dream/v1/dream";
import type { CodecPort, EngineChunk, RolloutEncoder } from "./ports";
import type { ValidatedOutput } from "./validate";

export class RolloutAssembler {
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

  static async open(codecs: CodecPort, output: ValidatedOutput, geometry: { height: number; width: number; fps: number }, candidates: number): Promise<RolloutAssembler> {
    const encoders = await codecs.openRolloutEncoders(candidates, output.encoding, { ...geometry, jpegQuality: output.jpegQuality });
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
    }
  }

  /** Waits for every queued frame to be encoded; rejects if an encoder failed. */
  async drain(): Promise<void> {
    await Promise.all(this.chains);
  }

  async finish(cancelled: number[]): Promise<Rollout[]> {
    const cancelledSet = new Set(cancelled);
    await this.drain();
    const results = await Promise.all(this.encoders.map((e) => e.finish()));
    return results.map((r, i) => ({
      candidateIndex: i,
      encoding: FrameEncoding[this.output.encoding],
      frames: r.frames,
      video: r.video ?? new Uint8Array(0),
      frameCount: this.pushed[i]!,
      height: this.geometry.height,
      width: this.geometry.width,
      jpegQuality: this.output.encoding === "JPEG" ? this.output.jpegQuality : 0,
      cancelled: cancelledSet.has(i),
    }));
  }

  abort(): void {
    for (const e of this.encoders) e.abort();
  }
}
