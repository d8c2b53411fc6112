// HTTP request → CallContext, the only thing handlers know about the transport. What the headers mean
// is decided once for both transports (../request-context.ts); this file only reads them off node:http.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../../core/clock";
import { ServiceError } from "../../core/errors";
import type { Limits } from "../../core/limits";
import type { CallContext } from "../../service/context";
import { armDeadline, bearerToken, contextFromHeaders, headerDeadlineMs, requestIdFromHeaders, type HeaderGetter } from "../request-context";

export interface BuiltContext {
  ctx: CallContext;
  /** Stop the deadline timer; call when the response is done. */
  dispose(): void;
}

/** Node lower-cases header names; a repeated header other than the joined ones arrives as an array. */
export const headersOf =
  (req: Pick<IncomingMessage, "headers">): HeaderGetter =>
  (name) => {
    const v = req.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };

/** A valid client-chosen id (X-DreamEngine-Request-Id, else X-Request-Id) or a fresh UUID; never an error. */
export const requestIdFrom = (req: Pick<IncomingMessage, "headers">): string => requestIdFromHeaders(headersOf(req));

/** "Bearer <token>"; anything else leaves the key undefined and the guard answers 401. */
export const apiKeyFrom = (req: Pick<IncomingMessage, "headers">): string | undefined => bearerToken(headersOf(req)("authorization"));

/** Relative deadline in ms from grpc-timeout or X-DreamEngine-Deadline-Ms; the earlier wins. */
export const deadlineMsFrom = (req: Pick<IncomingMessage, "headers">, limits: Limits): number | undefined => headerDeadlineMs(headersOf(req), limits.deadlineMsMax);

/** The socket's address without the IPv4-mapped prefix: rate limits bucket by address, not by connection. */
export function peerFrom(req: Pick<IncomingMessage, "socket">): string {
  const addr = req.socket.remoteAddress ?? "unknown";
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}

/** The request surface buildContext reads (an IncomingMessage; tests pass look-alikes). */
export type RequestHead = Pick<IncomingMessage, "headers" | "socket">;
/** The response surface buildContext watches. */
export type ResponseHead = Pick<ServerResponse, "on" | "writableFinished">;

export function buildContext(req: RequestHead, res: ResponseHead, requestId: string, clock: Clock, limits: Limits): BuiltContext {
  const controller = new AbortController();
  const facts = { peer: peerFrom(req), nowWallMs: clock.wallMs(), signal: controller.signal, requestId, deadlineMsMax: limits.deadlineMsMax };
  const ctx = contextFromHeaders(headersOf(req), facts);
  const dispose = armDeadline(controller, ctx, facts);
  // 'close' before the response finished = the client went away (or the socket died): stop the work.
  res.on("close", () => {
    if (!res.writableFinished) controller.abort(new ServiceError("CANCELLED", "the client closed the connection"));
  });
  return { ctx, dispose };
}
