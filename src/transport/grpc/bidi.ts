// A bidirectional table method as a grpc-js handler. The guard ran on the metadata (guard-first.ts)
// before any message was read; the handler then pulls the requests one at a time (the call is paused
// between pulls, so grpc-js reads ahead no further than its own object-mode buffer), its `send`
// resolves only once grpc-js has handed the message to HTTP/2 (backpressure, as in stream.ts), a
// cancel aborts ctx.signal and fails a pending pull or send, the client's half-close ends the
// requests, and the handler's end is the call's status: OK with trailers, or the mapped error.
import type * as grpc from "@grpc/grpc-js";
import { ServiceError } from "../../core/errors";
import type { BidiHandler, MethodImpl } from "../../service/context";
import type { CallOutcome } from "./call-outcome";
import { requestOf } from "./definitions";
import type { GuardFirst } from "./guard-first";
import { sender, settleStream } from "./sender";

type BidiCall = grpc.ServerDuplexStream<unknown, unknown>;

const cancelled = (): ServiceError => new ServiceError("CANCELLED", "the client cancelled the stream");

/** The call's requests as an async iterable: one message per pull, decode errors thrown in order. */
export function requestsOf(call: BidiCall, signal: AbortSignal): AsyncIterable<unknown> {
  const queue: unknown[] = [];
  let ended = false;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  call.on("data", (m: unknown) => {
    queue.push(m);
    call.pause();
    notify();
  });
  call.on("end", () => {
    ended = true;
    notify();
  });
  call.on("error", (err: unknown) => {
    failure ??= err;
    notify();
  });
  signal.addEventListener("abort", notify, { once: true });
  async function* pull(): AsyncGenerator<unknown> {
    for (;;) {
      if (queue.length > 0) {
        const next = queue.shift();
        if (queue.length === 0 && !ended) call.resume();
        yield await requestOf(next);
        continue;
      }
      if (signal.aborted) throw cancelled();
      if (failure !== undefined) throw failure;
      if (ended) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  return { [Symbol.asyncIterator]: pull };
}

export function bidiAdapter(path: string, method: MethodImpl, deps: { guard: GuardFirst; outcome: CallOutcome }): grpc.handleBidiStreamingCall<unknown, unknown> {
  const { guard, outcome } = deps;
  const handler = method.handler as BidiHandler<unknown, unknown>;
  return (call) => {
    const started = performance.now();
    const { ctx, controller, admission } = guard.contextOf(call, method.admit);
    call.on("cancelled", () => controller.abort());
    const { send, end } = sender(call, ctx, controller.signal);
    admission.then((admitted) => handler(requestsOf(call, controller.signal), ctx, admitted, send)).then(...settleStream(call, ctx, path, started, outcome, end));
  };
}
