// Hands one engine request's chunks to its consumer (the unary assembler, a stream's writer): the
// conditioning start frame goes in front of chunk 0, nothing is handed over while the request's
// durable pre-debit is still being written (the chunks wait here, in order, and follow the moment it
// lands), and the consumer's first failure is remembered and stops the request. The scheduler never
// waits for a consumer (RequestSink), so chunks held back here do not count against its backpressure
// bound; they are bounded by the request's own size.
import type { HoldRecord } from "./hold-record";
import type { EngineChunk } from "./ports";

export class ChunkDelivery {
  private consumerError: unknown;
  private failed = false;
  private open: boolean;
  private held: EngineChunk[] = [];

  constructor(
    private readonly startFrame: Uint8Array,
    private readonly onChunk: (chunk: EngineChunk) => Promise<void> | void,
    record: HoldRecord,
    /** Stops the engine request (a failed consumer, or a record the ledger refused). */
    private readonly cancel: () => void,
  ) {
    this.open = record.state === "recorded";
    if (!this.open) {
      record.whenKnown(() => {
        if (record.state !== "recorded") {
          // Nothing reaches the customer without a durable hold; the flow reports the refusal.
          this.held = [];
          this.cancel();
          return;
        }
        this.open = true;
        for (const chunk of this.held.splice(0)) void this.deliver(chunk);
      });
    }
  }

  /** The consumer's first failure, if it failed. */
  get error(): unknown {
    return this.failed ? this.consumerError : undefined;
  }

  /** The engine's onChunk: returns the consumer's promise when the chunk went straight to it. */
  take(chunk: EngineChunk): Promise<void> | undefined {
    if (this.failed) return undefined;
    const withStart = chunk.chunkIndex === 0 ? prependStartFrame(chunk, this.startFrame) : chunk;
    if (!this.open) {
      this.held.push(withStart);
      return undefined;
    }
    return this.deliver(withStart);
  }

  private deliver(chunk: EngineChunk): Promise<void> | undefined {
    if (this.failed) return undefined;
    try {
      const pending = this.onChunk(chunk);
      return pending ? pending.catch((err: unknown) => this.fail(err)) : undefined;
    } catch (err) {
      this.fail(err);
      return undefined;
    }
  }

  private fail(err: unknown): void {
    if (this.failed) return;
    this.failed = true;
    this.consumerError = err;
    this.cancel();
  }
}

function prependStartFrame(chunk: EngineChunk, startFrame: Uint8Array): EngineChunk {
  return {
    chunkIndex: chunk.chunkIndex,
    lanes: chunk.lanes.map((l) => ({ candidateIndex: l.candidateIndex, firstFrameIndex: 0, frames: [startFrame, ...l.frames] })),
  };
}
