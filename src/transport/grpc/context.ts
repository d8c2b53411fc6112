// A grpc-js call → the transport-neutral CallContext. What the metadata means is decided once for both
// transports (../request-context.ts); this file only reads it off grpc-js and adds what grpc-js knows:
// the peer and the call's own deadline (grpc-js consumes grpc-timeout and enforces it itself).
import type { Metadata } from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "@grpc/grpc-js/build/src/server-call";
import type { CallContext } from "../../service/context";
import { armDeadline, contextFromHeaders, type HeaderGetter } from "../request-context";

export { bearerToken } from "../request-context";

/** The first string value of a metadata key (binary -bin values are never headers we read). */
export const metadataOf =
  (metadata: Metadata): HeaderGetter =>
  (name) => {
    const v = metadata.get(name)[0];
    return typeof v === "string" ? v : undefined;
  };

/** What a context is built from: a handler's call, or (before the message is read) an interceptor's view of it. */
export type CallHead = Pick<ServerSurfaceCall, "metadata" | "getPeer" | "getDeadline">;

/** grpc-js's deadline in wall ms; undefined for none (grpc-js says Infinity). */
function deadlineWallMsOf(call: CallHead): number | undefined {
  const deadline = call.getDeadline();
  const ms = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * The CallContext for a call; x-dreamengine-deadline-ms, when earlier than grpc-js's deadline, aborts
 * `controller` itself. Throws INVALID_ARGUMENT (a ServiceError) for a malformed deadline header.
 */
export function grpcCallContext(call: CallHead, controller: AbortController, nowWallMs: number = Date.now()): CallContext {
  // grpc-js hands over a unary call once its message has arrived: the closest to call start it exposes.
  const facts = { peer: call.getPeer().replace(/:\d+$/, ""), nowWallMs, signal: controller.signal, transportDeadlineWallMs: deadlineWallMsOf(call) };
  const ctx = contextFromHeaders(metadataOf(call.metadata), facts);
  armDeadline(controller, ctx, facts);
  return ctx;
}

/**
 * grpcCallContext for callers that cannot answer an error at the point they build the context (the
 * interceptor builds it inside grpc-js's metadata callback, where a throw would escape grpc-js): a
 * malformed x-dreamengine-deadline-ms is then dropped and the call keeps grpc-js's deadline alone.
 */
export function callContext(call: CallHead, controller: AbortController): CallContext {
  try {
    return grpcCallContext(call, controller);
  } catch {
    return grpcCallContext({ metadata: withoutDeadlineHeader(call.metadata), getPeer: () => call.getPeer(), getDeadline: () => call.getDeadline() }, controller);
  }
}

function withoutDeadlineHeader(metadata: Metadata): Metadata {
  const copy = metadata.clone();
  copy.remove("x-dreamengine-deadline-ms");
  return copy;
}
