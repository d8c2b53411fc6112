// HTTP request → CallContext, the only thing handlers know about the transport.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Clock } from "../../core/clock";
import { invalidArgument, ServiceError } from "../../core/errors";
import { requestIdOrNew } from "../../core/ids";
import type { Limits } from "../../core/limits";
import type { CallContext } from "../../service/context";

export interface BuiltContext {
  ctx: CallContext;
  /** Stop the deadline timer; call when the response is done. */
  dispose(): void;
}

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** A valid client-chosen id (X-DreamEngine-Request-Id, else X-Request-Id) or a fresh UUID; never an error. */
export function requestIdFrom(req: IncomingMessage): string {
  for (const name of ["x-dreamengine-request-id", "x-request-id"]) {
    const given = header(req, name)?.trim();
    if (!given) continue;
    try {
      return requestIdOrNew(given);
    } catch {
      // An unusable id must not fail the call; the response header tells the client which id we used.
    }
  }
  return requestIdOrNew(undefined);
}

/** "Bearer <token>"; anything else leaves the key undefined and the handler answers 401. */
export function apiKeyFrom(req: IncomingMessage): string | undefined {
  const m = /^Bearer +([^\s]+)\s*$/i.exec(header(req, "authorization") ?? "");
  return m ? m[1] : undefined;
}

/** The socket's address without the IPv4-mapped prefix: rate limits bucket by address, not by connection. */
export function peerFrom(req: IncomingMessage): string {
  const addr = req.socket.remoteAddress ?? "unknown";
  return addr.startsWith("::ffff:") && addr.includes(".") ? addr.slice(7) : addr;
}

const GRPC_TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** Relative deadline in ms from `grpc-timeout` (gRPC's own header syntax) or X-DreamEngine-Deadline-Ms; the earlier wins. */
export function deadlineMsFrom(req: IncomingMessage, limits: Limits): number | undefined {
  let ms: number | undefined;
  const grpcTimeout = header(req, "grpc-timeout");
  if (grpcTimeout !== undefined) {
    const m = /^(\d{1,8})([HMSmun])$/.exec(grpcTimeout.trim());
    if (!m) throw invalidArgument("grpc-timeout", `expected 1-8 digits and a unit (H, M, S, m, u, n), got ${JSON.stringify(grpcTimeout.slice(0, 20))}`);
    ms = Number(m[1]) * GRPC_TIMEOUT_UNIT_MS[m[2]!]!;
  }
  const deadlineMs = header(req, "x-dreamengine-deadline-ms");
  if (deadlineMs !== undefined) {
    const n = /^\d{1,10}$/.test(deadlineMs.trim()) ? Number(deadlineMs) : NaN;
    if (!(n >= 1 && n <= limits.deadlineMsMax)) throw invalidArgument("X-DreamEngine-Deadline-Ms", `expected an integer in [1, ${limits.deadlineMsMax}], got ${JSON.stringify(deadlineMs.slice(0, 20))}`);
    ms = ms === undefined ? n : Math.min(ms, n);
  }
  return ms;
}

export function buildContext(req: IncomingMessage, res: ServerResponse, requestId: string, clock: Clock, limits: Limits): BuiltContext {
  const controller = new AbortController();
  const deadlineMs = deadlineMsFrom(req, limits);
  let timer: NodeJS.Timeout | undefined;
  // setTimeout treats anything above 2^31-1 ms (~24.8 days) as 1 ms; such a deadline needs no timer.
  if (deadlineMs !== undefined && deadlineMs <= 2_147_483_647) {
    timer = setTimeout(() => controller.abort(new ServiceError("DEADLINE_EXCEEDED", `deadline of ${deadlineMs} ms passed`)), Math.max(0, Math.ceil(deadlineMs)));
    timer.unref();
  }
  // 'close' before the response finished = the client went away (or the socket died): stop the work.
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort(new ServiceError("CANCELLED", "the client closed the connection"));
  };
  res.on("close", onClose);
  const ctx: CallContext = {
    requestId,
    apiKey: apiKeyFrom(req),
    peer: peerFrom(req),
    signal: controller.signal,
    deadlineWallMs: deadlineMs === undefined ? undefined : clock.wallMs() + deadlineMs,
    receivedWallMs: clock.wallMs(),
    responseHeaders: new Map(),
  };
  return {
    ctx,
    dispose: () => {
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
