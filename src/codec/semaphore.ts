// A weighted FIFO semaphore. Codecs use it to bound how much encode work (and the memory that work
// pins: input pixels, output buffers, ffmpeg processes) exists at once.
//
// Weighted + all-or-nothing on purpose: a K-candidate MP4 request takes K encoder permits in ONE
// acquire. Taking them one by one could deadlock — two requests each holding half the permits while
// waiting for the rest, with neither able to finish its videos. FIFO so a big request is not starved
// by a stream of small ones.

import { assert } from "../core/assert";
import { ServiceError } from "../core/errors";

interface Waiter {
  permits: number;
  resolve: () => void;
}

export class Semaphore {
  private inUse = 0;
  private peak = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly capacity: number,
    readonly name: string,
  ) {
    assert(Number.isInteger(capacity) && capacity > 0, `semaphore ${name}: capacity must be a positive integer`);
  }

  /** Resolves once `permits` are held; the caller must `release(permits)` exactly once. */
  acquire(permits = 1, signal?: AbortSignal): Promise<void> {
    assert(Number.isInteger(permits) && permits > 0, "permits must be a positive integer");
    if (permits > this.capacity) {
      // Can never be satisfied: fail now instead of waiting forever.
      return Promise.reject(
        new ServiceError("UNAVAILABLE", `${this.name}: ${permits} permits requested but only ${this.capacity} exist`),
      );
    }
    if (signal?.aborted) return Promise.reject(abortError(this.name, signal));
    if (this.waiters.length === 0 && this.inUse + permits <= this.capacity) {
      this.take(permits);
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        permits,
        resolve: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(abortError(this.name, signal!));
        this.drain(); // the head may have changed
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(permits = 1): void {
    assert(permits > 0 && permits <= this.inUse, `semaphore ${this.name}: releasing ${permits} of ${this.inUse} held`);
    this.inUse -= permits;
    this.drain();
  }

  /** Runs `fn` holding `permits`; releases however `fn` ends. */
  async run<T>(fn: () => Promise<T>, permits = 1, signal?: AbortSignal): Promise<T> {
    await this.acquire(permits, signal);
    try {
      return await fn();
    } finally {
      this.release(permits);
    }
  }

  stats(): { capacity: number; inUse: number; waiting: number; peak: number } {
    return { capacity: this.capacity, inUse: this.inUse, waiting: this.waiters.length, peak: this.peak };
  }

  private take(permits: number): void {
    this.inUse += permits;
    if (this.inUse > this.peak) this.peak = this.inUse;
  }

  private drain(): void {
    while (this.waiters.length > 0 && this.inUse + this.waiters[0]!.permits <= this.capacity) {
      const w = this.waiters.shift()!;
      this.take(w.permits);
      w.resolve();
    }
  }
}

function abortError(name: string, signal: AbortSignal): ServiceError {
  const reason = signal.reason instanceof ServiceError ? signal.reason : undefined;
  return reason ?? new ServiceError("CANCELLED", `${name}: cancelled while waiting for an encoder`);
}
