// Every failure a DreamClient call rejects with is a DreamError whose `reason` is one of the server's
// (docs/ERRORS.md), so callers branch on one vocabulary whether the server, grpc-js or the caller's own
// signal ended the call.
import * as grpc from "@grpc/grpc-js";
import { errorInfoOf, retryInfoOf } from "../../../src/wire/status-details";

export class DreamError extends Error {
  override name = "DreamError";
  constructor(
    /** The gRPC status code (grpc.status). */
    readonly code: number,
    /** The server's ErrorInfo.reason; without one, the status code's name ("UNAVAILABLE", ...). */
    readonly reason: string,
    message: string,
    readonly details: Record<string, string>,
    /** The server's RetryInfo delay, whole seconds. */
    readonly retryAfterS: number | undefined,
    readonly requestId: string | undefined,
    /** Whether the server itself sent the reason (an ErrorInfo); false for grpc-js's own statuses. */
    readonly fromServer = false,
    /** The server's RetryInfo delay in milliseconds, nanos included. */
    readonly retryAfterMs: number | undefined = retryAfterS === undefined ? undefined : retryAfterS * 1000,
  ) {
    super(message);
  }
}

export function toDreamError(err: unknown): DreamError {
  if (err instanceof DreamError) return err;
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e?.code !== "number") return new DreamError(grpc.status.UNKNOWN, "UNKNOWN", String((err as Error)?.message ?? err), {}, undefined, undefined);
  const info = errorInfoOf(e.metadata);
  const delay = retryInfoOf(e.metadata)?.retryDelay;
  const requestId = e.metadata?.get("x-dreamengine-request-id")[0];
  const retryAfterMs = delay ? delay.seconds * 1000 + Math.ceil(delay.nanos / 1e6) : undefined;
  return new DreamError(e.code, info?.reason ?? grpc.status[e.code] ?? "UNKNOWN", e.details ?? String(e.message), info?.metadata ?? {}, delay?.seconds, typeof requestId === "string" ? requestId : undefined, info !== undefined, retryAfterMs);
}

/** What a call ended by the caller (AbortSignal or cancel()) rejects with; `cause` is the signal's reason. */
export function cancelledError(cause?: unknown): DreamError {
  const err = new DreamError(grpc.status.CANCELLED, "CANCELLED", "cancelled by the caller", {}, undefined, undefined);
  if (cause !== undefined) Object.defineProperty(err, "cause", { value: cause, configurable: true, writable: true, enumerable: false });
  return err;
}

/** What a call rejects with when its deadline passes outside a gRPC attempt (while backing off). */
export function deadlineError(): DreamError {
  return new DreamError(grpc.status.DEADLINE_EXCEEDED, "DEADLINE_EXCEEDED", "the call's deadline passed before a retry could be sent", {}, undefined, undefined);
}
