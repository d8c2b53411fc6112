// Collects a unary predict's frames per candidate as chunks arrive, feeding each candidate's encoder
// immediately (PNG/JPEG per frame, MP4 through ffmpeg), so encoding overlaps the remaining chunks.
import { FrameEncoding, type Rollout } from "../gen/dream/v1/dream";
import type { CodecPort, EngineChunk, RolloutEncoder } from "./ports";
import type { ValidatedOutput } from "./validate";

export class RolloutAssembler {
  private readonly pushed: number[];

  private constructor(
    private readonly encoders: RolloutEncoder[],
    private readonly output: ValidatedOutput,
    private readonly geometry: { height: number; width: number; fps: number },
  ) {
    this.pushed = new Array<number>(encoders.length).fill(0);
  }

  static async open(codecs: CodecPort, output: ValidatedOutput, geometry: { height: number; width: number; fps: number }, candidates: number): Promise<RolloutAssembler> {
    const encoders = await codecs.openRolloutEncoders(candidates, output.encoding, { ...geometry, jpegQuality: output.jpegQuality });
    return new RolloutAssembler(encoders, output, geometry);
  }

  async onChunk(chunk: EngineChunk): Promise<void> {
    const pending: Promise<void>[] = [];
    for (const lane of chunk.lanes) {
      const encoder = this.encoders[lane.candidateIndex]!;
      for (const frame of lane.frames) {
        const p = encoder.push(frame);
        if (p) pending.push(p);
        this.pushed[lane.candidateIndex]!++;
      }
    }
    await Promise.all(pending);
  }

  async finish(cancelled: number[]): Promise<Rollout[]> {
    const cancelledSet = new Set(cancelled);
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
