// ServiceError → HTTP. The status comes from the one shared errorTable; the body is the documented
// {"error": {"code", "reason", "message", "request_id", …details}}. Unknown errors never leak their
// message or stack to the client — they become INTERNAL and go to the log instead.

import type { ServerResponse } from "node:http";
import { Code, ServiceError } from "../../core/errors";

export interface ErrorBody {
  error: { code: string; reason: string; message: string; request_id: string; [detail: string]: unknown };
}

/** "failed_precondition" for Code.FAILED_PRECONDITION: the gRPC code name, lower-cased. */
export function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").toLowerCase();
}

export function errorBody(err: ServiceError, requestId: string): ErrorBody {
  const fixed = { code: codeName(err.code), reason: err.reason, message: err.message, request_id: requestId };
  const details: Record<string, unknown> = {};
  // Details may add keys (balance_cents, field, …) but never overwrite the fixed ones clients switch on.
  for (const [k, v] of Object.entries(err.details)) if (!(k in fixed)) details[k] = v;
  return { error: { ...fixed, ...details } };
}

// Headers that belong with one particular error, attached by whoever threw it (e.g. the RateLimit and
// RateLimit-Policy headers of a 429, which only the rate limiter can compute). A WeakMap rather than a
// field: ServiceError stays transport-neutral and nothing is added to the JSON body.
const errorHeaders = new WeakMap<ServiceError, Record<string, string>>();

/** Attach HTTP response headers to an error (returns the same error, for `throw withHttpHeaders(…)`). */
export function withHttpHeaders<E extends ServiceError>(err: E, headers: Record<string, string>): E {
  errorHeaders.set(err, { ...(errorHeaders.get(err) ?? {}), ...headers });
  return err;
}

/** The headers attached with withHttpHeaders, if any. */
export function httpHeadersOf(err: ServiceError): Record<string, string> {
  return errorHeaders.get(err) ?? {};
}

/** Retry-After in whole seconds, at least 1 (RFC 9110 allows only integers; 0 would invite a hot loop). */
export function retryAfterHeader(err: ServiceError): string | undefined {
  if (err.retryAfterS === undefined || !Number.isFinite(err.retryAfterS)) return undefined;
  return String(Math.max(1, Math.ceil(err.retryAfterS)));
}

export function sendError(res: ServerResponse, err: ServiceError, requestId: string, extraHeaders: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const payload = Buffer.from(JSON.stringify(errorBody(err, requestId)));
  const headers: Record<string, string | string[]> = {
    ...extraHeaders,
    ...httpHeadersOf(err),
    "content-type": "application/json; charset=utf-8",
    "content-length": String(payload.length),
    "cache-control": "no-store",
  };
  const retryAfter = retryAfterHeader(err);
  if (retryAfter !== undefined) headers["retry-after"] = retryAfter;
  res.writeHead(err.http, headers);
  res.end(payload);
}
