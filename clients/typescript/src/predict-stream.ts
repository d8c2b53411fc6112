// A StreamPredict call as the caller holds it: typed events to iterate, cancel(), and the raw
// messages for code that wants the proto's own shape. A stream is retried only before its first
// message (a refusal at admission: rate limit, queue full); once frames flow, a failure ends it,
// since a fresh call would generate, and bill, the frames again.
import type * as grpc from "@grpc/grpc-js";
import type { StreamPredictResponse } from "../../../src/gen/dream/v1/dream";
import { sleepMs } from "./deadline";
import { cancelledError, toDreamError, type DreamError } from "./errors";
import { eventOf, type StreamEvent } from "./stream-events";

export interface StreamDriver {
  /** Starts one attempt. */
  start(): grpc.ClientReadableStream<StreamPredictResponse>;
  /** The wait before retry number `retry`, or undefined to give up with `err`. */
  retryDelayMs(err: DreamError, retry: number): number | undefined;
  signal?: AbortSignal;
}

export class PredictStream implements AsyncIterable<StreamEvent> {
  private current: grpc.ClientReadableStream<StreamPredictResponse>;
  /** Ends backoff sleeps too; aborted by cancel() and by the caller's signal. */
  private readonly stop = new AbortController();
  /** Raw messages, as the proto defines them. Iterate this or the events, not both. */
  readonly messages: AsyncGenerator<StreamPredictResponse>;
  /** Typed events (StreamEvent); also what iterating the stream itself yields. */
  readonly events: AsyncGenerator<StreamEvent>;

  constructor(private readonly driver: StreamDriver) {
    const { signal } = driver;
    if (signal?.aborted) this.stop.abort(signal.reason);
    else signal?.addEventListener("abort", this.onAbort, { once: true });
    // Started now, as a plain grpc-js call would be, so `call` exists before the first await.
    this.current = driver.start();
    if (this.stop.signal.aborted) this.current.cancel();
    this.messages = this.pump();
    this.events = this.typed();
  }

  private readonly onAbort = (): void => this.cancel(this.driver.signal?.reason);

  /** The gRPC call of the current attempt. */
  get call(): grpc.ClientReadableStream<StreamPredictResponse> {
    return this.current;
  }

  /**
   * Ends the stream: the server stops generating at the next chunk boundary and bills only what was
   * generated; the iterator then rejects with DreamError CANCELLED (cause: `reason`).
   */
  cancel(reason?: unknown): void {
    if (!this.stop.signal.aborted) this.stop.abort(reason);
    this.current.cancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamEvent> {
    return this.events;
  }

  private async *typed(): AsyncGenerator<StreamEvent> {
    for await (const m of this.messages) {
      const e = eventOf(m);
      if (e) yield e;
    }
  }

  private async *pump(): AsyncGenerator<StreamPredictResponse> {
    let finished = false;
    try {
      for (let retry = 1; ; retry++) {
        let received = 0;
        try {
          for await (const m of this.current as AsyncIterable<StreamPredictResponse>) {
            received++;
            yield m;
          }
          finished = true;
          return;
        } catch (err) {
          if (this.stop.signal.aborted) throw cancelledError(this.stop.signal.reason);
          const e = toDreamError(err);
          const delay = received === 0 ? this.driver.retryDelayMs(e, retry) : undefined;
          if (delay === undefined) throw e;
          await sleepMs(delay, this.stop.signal);
          this.current = this.driver.start();
          if (this.stop.signal.aborted) throw cancelledError(this.stop.signal.reason);
        }
      }
    } finally {
      // The caller stopped iterating early (break, return, a throw in its loop body): end the call
      // rather than leave the server generating frames nobody reads. (After an error, a no-op.)
      if (!finished) this.current.cancel();
      this.driver.signal?.removeEventListener("abort", this.onAbort); // a long-lived signal keeps no dead stream
    }
  }
}
