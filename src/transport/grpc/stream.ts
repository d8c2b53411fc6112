// A server-streaming table method as a grpc-js handler: the handler's `send` resolves only once
// grpc-js has handed the message to HTTP/2, so a slow reader holds the handler back; final charges
// travel as trailers.
import type * as grpc from "@grpc/grpc-js";
import type { MethodImpl, StreamHandler } from "../../service/context";
import { metadataFrom, responseRequestId, type CallOutcome } from "./call-outcome";
import { requestOf } from "./definitions";
import type { GuardFirst } from "./guard-first";
import { sender } from "./sender";

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
