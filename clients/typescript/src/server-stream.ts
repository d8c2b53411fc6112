// A server-streaming call as the caller holds it (StreamPredict, StreamPlan): typed events to iterate,
// cancel(), and the raw messages for code that wants the proto's own shape. A stream is retried only
// before its first message (a refusal at admission: rate limit, queue full); once messages flow, a
// failure ends it, since a fresh call would run, and bill, the work again.
import type * as grpc from "@grpc/grpc-js";
import { sleepMs } from "./deadline";
import { cancelledError, toDreamError, type DreamError } from "./errors";

export interface ServerStreamDriver<M> {
  /** Starts one attempt. */
  start(): grpc.ClientReadableStream<M>;
  /** The wait before retry number `retry`, or undefined to give up with `err`. */
  retryDelayMs(err: DreamError, retry: number): number | undefined;
  signal?: AbortSignal;
}

export class ServerStream<M, E> implements AsyncIterable<E> {
  private current: grpc.ClientReadableStream<M>;
  /** Ends backoff sleeps too; aborted by cancel() and by the caller's signal. */
  private readonly stop = new AbortController();
  /** Raw messages, as the proto defines them. Iterate this or the events, not both. */
  readonly messages: AsyncGenerator<M>;
  /** Typed events; also what iterating the stream itself yields. */
  readonly events: AsyncGenerator<E>;

  constructor(
    private readonly driver: ServerStreamDriver<M>,
    /** The event a message carries; undefined for one this client does not know (skipped). */
    private readonly eventOf: (m: M) => E | undefined,
  ) {
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
  get call(): grpc.ClientReadableStream<M> {
    return this.current;
  }

  /**
   * Ends the stream: the server stops at its next boundary (chunk, iteration) and bills only what
   * was generated; the iterator then rejects with DreamError CANCELLED (cause: `reason`).
   */
  cancel(reason?: unknown): void {
    if (!this.stop.signal.aborted) this.stop.abort(reason);
    this.current.cancel();
  }

  [Symbol.asyncIterator](): AsyncIterator<E> {
    return this.events;
  }

  private async *typed(): AsyncGenerator<E> {
    for await (const m of this.messages) {
      const e = this.eventOf(m);
      if (e) yield e;
    }
  }

  private async *pump(): AsyncGenerator<M> {
    let finished = false;
    try {
      for (let retry = 1; ; retry++) {
        let received = 0;
        try {
          for await (const m of this.current as AsyncIterable<M>) {
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
