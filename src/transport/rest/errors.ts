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
  // The error's own headers (ServiceError.headers, e.g. a 429's RateLimit) may add to the transport's
  // but never replace the framing of the body or the request id the client correlates by.
  const headers: Record<string, string | string[]> = {
    ...extraHeaders,
    ...ownHeaders(err),
    "content-type": "application/json; charset=utf-8",
    "content-length": String(payload.length),
    "cache-control": "no-store",
  };
  const retryAfter = retryAfterHeader(err);
  if (retryAfter !== undefined) headers["retry-after"] = retryAfter;
  res.writeHead(err.http, headers);
  res.end(payload);
}

/**
 * Headers ServiceError.headers may not set on an HTTP error answer: they frame the body we send, keep
 * a connection we decided to close, or carry the id we chose. (Retry-After may come from the error's
 * headers; the error's own retryAfterS, when set, wins.)
 */
const FIXED_HEADERS = new Set(["content-type", "content-length", "cache-control", "x-dreamengine-request-id", "connection", "transfer-encoding"]);

function ownHeaders(err: ServiceError): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(err.headers)) if (!FIXED_HEADERS.has(name)) out[name] = value;
  return out;
}
