// A server-streaming table method as a grpc-js handler: the handler's `send` resolves only once
// grpc-js has handed the message to HTTP/2, so a slow reader holds the handler back; final charges
// travel as trailers.
import type * as grpc from "@grpc/grpc-js";
import type { MethodImpl, StreamHandler } from "../../service/context";
import type { CallOutcome } from "./call-outcome";
import { requestOf } from "./definitions";
import type { GuardFirst } from "./guard-first";
import { sender, settleStream } from "./sender";

export function streamAdapter(path: string, method: MethodImpl, deps: { guard: GuardFirst; outcome: CallOutcome }): grpc.handleServerStreamingCall<unknown, unknown> {
  const { guard, outcome } = deps;
  const handler = method.handler as StreamHandler<unknown, unknown>;
  return (call) => {
    const started = performance.now();
    const { ctx, controller, admission } = guard.contextOf(call, method.admit);
    call.on("cancelled", () => controller.abort());
    const { send, end } = sender(call, ctx, controller.signal);
    Promise.all([requestOf(call.request), admission]).then(([request, admitted]) => handler(request, ctx, admitted, send)).then(...settleStream(call, ctx, path, started, outcome, end));
  };
}
