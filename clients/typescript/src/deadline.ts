// One deadline and one signal per call, covering every attempt and every backoff sleep between them,
// so `timeoutMs: 5000` means the caller hears back within about 5 s however many retries happen.
import { cancelledError } from "./errors";

export interface CallOptions {
  /** Extra request metadata (headers). */
  metadata?: Record<string, string>;
  /** Milliseconds from now; defaults to the client's timeoutMs. */
  timeoutMs?: number;
  /** An absolute deadline; with timeoutMs too, the earlier one holds. */
  deadline?: Date;
  /** Aborting cancels the call (and any backoff sleep); the call rejects with DreamError CANCELLED. */
  signal?: AbortSignal;
  /** Overrides the client's retries for this call; 0 sends it once. */
  retries?: number;
}

/** The call's deadline in ms since the epoch, or undefined for none. */
export function deadlineMsOf(options: CallOptions, defaultTimeoutMs: number | undefined, nowMs = Date.now()): number | undefined {
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs;
  const candidates = [timeoutMs ? nowMs + timeoutMs : undefined, options.deadline?.getTime()].filter((d): d is number => d !== undefined);
  return candidates.length ? Math.min(...candidates) : undefined;
}

/** Resolves after `ms`, or rejects with DreamError CANCELLED as soon as `signal` aborts. */
export function sleepMs(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelledError(signal.reason));
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelledError(signal!.reason));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
