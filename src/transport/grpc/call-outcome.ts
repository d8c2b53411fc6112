// How every gRPC call of the method table ends, whichever adapter ran it: an error becomes a gRPC status
// (unexpected ones logged, since they are bugs), a finished call is reported for metrics, and response
// headers carry the request id the service settled on.
import * as grpc from "@grpc/grpc-js";
import { ServiceError } from "../../core/errors";
import type { Logger } from "../../observability/logger";
import type { CallContext } from "../../service/context";
import { toGrpcStatus } from "./status";

export interface CallOutcome {
  /** The status to answer `err` with. */
  fail(method: string, err: unknown, requestId: string): Partial<grpc.StatusObject>;
  /** Observes a finished call (for metrics). */
  finish(method: string, code: number, startedMs: number): void;
}

export function callOutcome(logger: Logger, onCallEnd?: (method: string, code: number, durationMs: number) => void): CallOutcome {
  return {
    fail: (method, err, requestId) => {
      const se = ServiceError.from(err);
      if (!(err instanceof ServiceError)) logger.error({ method, requestId, err: err instanceof Error ? err.stack : String(err) }, "unhandled error");
      return toGrpcStatus(se, requestId);
    },
    finish: (method, code, startedMs) => onCallEnd?.(method, code, performance.now() - startedMs),
  };
}

/** The id the service settled on (a client-chosen request_id wins over the transport's). */
export const responseRequestId = (ctx: CallContext): string => ctx.responseHeaders.get("x-dreamengine-request-id") ?? ctx.requestId;

export function metadataFrom(headers: Map<string, string>): grpc.Metadata {
  const md = new grpc.Metadata();
  for (const [k, v] of headers) md.set(k, v);
  return md;
}
