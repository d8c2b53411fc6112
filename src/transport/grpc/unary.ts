// A unary table method as a grpc-js handler: the guard's admission and the request go to the handler,
// its response (or error) back to grpc-js. For the raw predict methods the call gets its own raw
// response layout, and a response that is exactly its arena's plan goes to grpc-js pre-framed.
import type * as grpc from "@grpc/grpc-js";
import type { MethodImpl, UnaryHandler } from "../../service/context";
import { metadataFrom, responseRequestId, type CallOutcome } from "./call-outcome";
import { requestOf } from "./definitions";
import type { GuardFirst } from "./guard-first";
import { rawUnaryCall } from "./raw/raw-unary";
import type { ArenaPool } from "../arena-pool";

export interface UnaryDeps {
  guard: GuardFirst;
  outcome: CallOutcome;
  /** Where sent raw responses' buffers go back for reuse; undefined: every arena is fresh. */
  arenaPool: ArenaPool | undefined;
}

export function unaryAdapter(path: string, method: MethodImpl, deps: UnaryDeps): grpc.handleUnaryCall<unknown, unknown> {
  const { guard, outcome, arenaPool } = deps;
  const handler = method.handler as UnaryHandler<unknown, unknown>;
  return (call, callback) => {
    const started = performance.now();
    const { ctx, controller, admission } = guard.contextOf(call, method.admit);
    call.on("cancelled", () => controller.abort());
    const raw = rawUnaryCall(path, arenaPool);
    if (raw) ctx.rawResponseLayout = raw.layout;
    Promise.all([requestOf(call.request), admission]).then(([request, admitted]) => handler(request, ctx, admitted)).then(
      (response) => {
        ctx.responseHeaders.set("x-dreamengine-request-id", responseRequestId(ctx));
        call.sendMetadata(metadataFrom(ctx.responseHeaders));
        callback(null, raw ? raw.reply(response) : response);
        outcome.finish(path, 0, started);
      },
      (err: unknown) => {
        const status = outcome.fail(path, err, responseRequestId(ctx));
        callback(status as grpc.ServiceError);
        outcome.finish(path, status.code ?? 2, started);
      },
    );
  };
}
