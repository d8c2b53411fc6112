// A server-streaming table method as a grpc-js handler: the handler's `send` resolves only once
// grpc-js has handed the message to HTTP/2, so a slow reader holds the handler back; final charges
// travel as trailers.
import type * as grpc from "@grpc/grpc-js";
import { ServiceError } from "../../core/errors";
import type { CallContext, MethodImpl, StreamHandler } from "../../service/context";
import { metadataFrom, responseRequestId, type CallOutcome } from "./call-outcome";
import { requestOf } from "./definitions";
import type { GuardFirst } from "./guard-first";

type StreamCall = grpc.ServerWritableStream<unknown, unknown>;

/** The handler's `send` for one call, and `end()` for the adapter to say the status has gone. */
function sender(call: StreamCall, ctx: CallContext, signal: AbortSignal): { send: (message: unknown) => Promise<void>; end: () => void } {
  let headersSent = false;
  let ended = false;
  const send = (message: unknown): Promise<void> => {
    if (signal.aborted) return Promise.reject(new ServiceError("CANCELLED", "the client cancelled the stream"));
    // A write after the status would be "write after end" and could replace the status sent.
    if (ended) return Promise.reject(new ServiceError("CANCELLED", "the stream has already ended"));
    if (!headersSent) {
      headersSent = true;
      ctx.responseHeaders.set("x-dreamengine-request-id", responseRequestId(ctx));
      call.sendMetadata(metadataFrom(ctx.responseHeaders));
    }
    // Backpressure: resolve only when grpc-js has handed the message to HTTP/2 (the write
    // callback, which waits for flow control), not when write() returns true: grpc-js's object-mode
    // Writable accepts 16 messages before saying false, so a stalled reader would pin 16 chunks
    // (1.4 GB at K=8 480x640) beyond the handler's own bound. grpc-js never calls back a write on a
    // cancelled call, so a cancel rejects the pending send instead of leaving it hanging.
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new ServiceError("CANCELLED", "the client cancelled the stream"));
      signal.addEventListener("abort", onAbort, { once: true });
      call.write(message, (err?: Error | null) => {
        signal.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      });
    });
  };
  return { send, end: () => void (ended = true) };
}

export function streamAdapter(path: string, method: MethodImpl, deps: { guard: GuardFirst; outcome: CallOutcome }): grpc.handleServerStreamingCall<unknown, unknown> {
  const { guard, outcome } = deps;
  const handler = method.handler as StreamHandler<unknown, unknown>;
  return (call) => {
    const started = performance.now();
    const { ctx, controller, admission } = guard.contextOf(call, method.admit);
    call.on("cancelled", () => controller.abort());
    const { send, end } = sender(call, ctx, controller.signal);
    Promise.all([requestOf(call.request), admission]).then(([request, admitted]) => handler(request, ctx, admitted, send)).then(
      () => {
        end();
        // Final charges travel as trailers: they are only known once the stream has ended.
        call.end(metadataFrom(ctx.responseHeaders));
        outcome.finish(path, 0, started);
      },
      (err: unknown) => {
        end();
        const status = outcome.fail(path, err, responseRequestId(ctx));
        call.emit("error", Object.assign(new Error(status.details), status));
        outcome.finish(path, status.code ?? 2, started);
      },
    );
  };
}
