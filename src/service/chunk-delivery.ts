// Hands one engine request's chunks to its consumer (the unary assembler, a stream's writer): the
// conditioning start frame goes in front of chunk 0, nothing is handed over while the request's
// durable pre-debit is still being written (the chunks wait here, in order, and follow the moment it
// lands), and the consumer's first failure is remembered and stops the request. The scheduler never
// waits for a consumer (RequestSink), so chunks held back here do not count against its backpressure
// bound; they are bounded by the request's own size. Once the record lands they go to the consumer one
// at a time, each after the consumer's promise for the one before.
import type { HoldRecord } from "./hold-record";
import type { EngineChunk } from "./ports";

export class ChunkDelivery {
  private consumerError: unknown;
  private failed = false;
  private open: boolean;
  private held: EngineChunk[] = [];
  private flushing = false;
  private flushed: Promise<void> = Promise.resolve();

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
        this.flushed = this.flushHeld();
      });
    }
  }

  /** The consumer's first failure, if it failed. */
  get error(): unknown {
    return this.failed ? this.consumerError : undefined;
  }

  /**
   * Resolves once every chunk held while the record was written has been handed over (and the
   * consumer's promise for the last one settled): the flow waits for it before settling, so a stream
   * sends them all before its summary or status.
   */
  handedOver(): Promise<void> {
    return this.flushed;
  }

  /** The engine's onChunk: returns the consumer's promise when the chunk went straight to it. */
  take(chunk: EngineChunk): Promise<void> | undefined {
    if (this.failed) return undefined;
    const withStart = chunk.chunkIndex === 0 ? prependStartFrame(chunk, this.startFrame) : chunk;
    // Behind chunks still held (or being flushed), in order.
    if (!this.open || this.flushing) {
      this.held.push(withStart);
      return undefined;
    }
    return this.deliver(withStart);
  }

  /**
   * The chunks held while the record was written, one at a time: each waits for the consumer's promise
   * for the one before (a stream's send), as live chunks arrive spaced by compute. Handed over in one
   * burst, a stream counted them all as unsent at once and, past its bound, failed a reader that was
   * never slow (STREAM_STALLED in CI, with the ledger slow to record under load). Chunks the engine
   * produces meanwhile queue behind them, so the order holds.
   */
  private async flushHeld(): Promise<void> {
    this.flushing = true;
    try {
      for (let chunk = this.held.shift(); chunk !== undefined && !this.failed; chunk = this.held.shift()) await this.deliver(chunk);
    } finally {
      this.held = [];
      this.flushing = false;
    }
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
