// ServiceError → HTTP. The status comes from the one shared errorTable; the body is the documented
// {"error": {"code", "reason", "message", "request_id", …details}}. Unknown errors never leak their
// message or stack to the client — they become INTERNAL and go to the log instead. The body is bounded
// (message and details each within their limit) whatever the error echoes.

import type { ServerResponse } from "node:http";
import { clipBytes, Code, ServiceError } from "../../core/errors";
import { limits } from "../../core/limits";

export interface ErrorBody {
  error: { code: string; reason: string; message: string; request_id: string; [detail: string]: unknown };
}

/** "failed_precondition" for Code.FAILED_PRECONDITION: the gRPC code name, lower-cased. */
export function codeName(code: Code): string {
  return (Code[code] ?? "UNKNOWN").toLowerCase();
}

/** Set in the body when some details were left out to keep it within limits.errorDetailsBytesMax. */
export const DETAILS_TRUNCATED_KEY = "details_truncated";

export function errorBody(err: ServiceError, requestId: string): ErrorBody {
  const fixed = { code: codeName(err.code), reason: err.reason, message: clipBytes(err.message, limits.errorMessageBytesMax), request_id: requestId };
  const details: Record<string, unknown> = {};
  // Details may add keys (balance_cents, field, …) but never overwrite the fixed ones clients switch on,
  // and together stay within their byte budget (an entry that does not fit is left out, and said so),
  // so no input can make an error body large.
  let bytes = 2; // "{}"
  let dropped = false;
  for (const [k, v] of Object.entries(err.details)) {
    if (k in fixed) continue;
    const entry = Buffer.byteLength(JSON.stringify(k)) + Buffer.byteLength(JSON.stringify(v)) + 2; // ':' and ','
    if (bytes + entry > limits.errorDetailsBytesMax) {
      dropped = true;
      continue;
    }
    details[k] = v;
    bytes += entry;
  }
  if (dropped) details[DETAILS_TRUNCATED_KEY] = true;
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
