// The `send` a streaming handler gets (server-streaming and bidirectional alike): response headers go
// with the first message, and each send resolves only once grpc-js has handed the message to HTTP/2.
import type * as grpc from "@grpc/grpc-js";
import { ServiceError } from "../../core/errors";
import type { CallContext } from "../../service/context";
import { metadataFrom, responseRequestId, type CallOutcome } from "./call-outcome";

/** What a sender needs of a grpc-js call that writes messages (server-streaming or bidirectional). */
export type WritingCall = Pick<grpc.ServerWritableStream<unknown, unknown>, "write" | "sendMetadata">;

/** The handler's `send` for one call, and `end()` for the adapter to say the status has gone. */
export function sender(call: WritingCall, ctx: CallContext, signal: AbortSignal): { send: (message: unknown) => Promise<void>; end: () => void } {
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

/**
 * How a streaming call ends once its handler has: OK with the response headers as trailers (final
 * charges are only known then), or the handler's error as the status. `end()` first, so that no send
 * can slip in after the status.
 */
export function settleStream(
  call: { end(metadata?: grpc.Metadata): void; emit(event: "error", err: Error): boolean },
  ctx: CallContext,
  path: string,
  started: number,
  outcome: CallOutcome,
  end: () => void,
): [() => void, (err: unknown) => void] {
  const ok = (): void => {
    end();
    call.end(metadataFrom(ctx.responseHeaders));
    outcome.finish(path, 0, started);
  };
  const failed = (err: unknown): void => {
    end();
    const status = outcome.fail(path, err, responseRequestId(ctx));
    call.emit("error", Object.assign(new Error(status.details), status));
    outcome.finish(path, status.code ?? 2, started);
  };
  return [ok, failed];
}
