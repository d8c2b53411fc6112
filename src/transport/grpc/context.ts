// A grpc-js call → the transport-neutral CallContext.
import type { Metadata } from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "@grpc/grpc-js/build/src/server-call";
import { randomUUID } from "node:crypto";
import { requestIdOrNew } from "../../core/ids";
import type { CallContext } from "../../service/context";

function header(metadata: Metadata, name: string): string | undefined {
  const v = metadata.get(name)[0];
  return typeof v === "string" ? v : undefined;
}

export function bearerToken(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  return m ? m[1] : undefined;
}

/** What a context is built from: a handler's call, or (before the message is read) an interceptor's view of it. */
export type CallHead = Pick<ServerSurfaceCall, "metadata" | "getPeer" | "getDeadline">;

export function callContext(call: CallHead, controller: AbortController): CallContext {
  const md = call.metadata;
  let requestId: string;
  try {
    requestId = requestIdOrNew(header(md, "x-dreamengine-request-id") ?? header(md, "x-request-id"));
  } catch {
    requestId = randomUUID(); // an unusable incoming id is replaced, not an error
  }
  const deadline = call.getDeadline();
  const deadlineWallMs = deadline instanceof Date ? deadline.getTime() : Number.isFinite(deadline) ? Number(deadline) : undefined;
  return {
    requestId,
    apiKey: bearerToken(header(md, "authorization")),
    peer: call.getPeer().replace(/:\d+$/, ""),
    signal: controller.signal,
    deadlineWallMs,
    // grpc-js hands over a unary call once its message has arrived: the closest to call start it exposes.
    receivedWallMs: Date.now(),
    responseHeaders: new Map(),
  };
}
