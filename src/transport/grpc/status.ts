// ServiceError → gRPC status: the code, the message, and google.rpc.Status in grpc-status-details-bin
// carrying ErrorInfo (reason, domain, details as string metadata) and RetryInfo when a retry delay applies.
//
// Both travel as HTTP/2 trailers, and a trailer block the peer will not take (over its header list
// size) is never sent: the call hangs and, with it, every call on the connection. So the message is
// capped at limits.errorMessageBytesMax and the encoded Status at limits.errorDetailsBytesMax, dropping
// detail entries that do not fit, whatever a ServiceError carries. The error's own headers
// (ServiceError.headers, e.g. a RATE_LIMITED's RateLimit and RateLimit-Policy) travel there too, bounded
// by the error itself, and never in place of grpc-* or the keys set here.
import { Metadata, type StatusObject } from "@grpc/grpc-js";
import { clipBytes, ERROR_DOMAIN, ServiceError } from "../../core/errors";
import { limits } from "../../core/limits";
import { Any } from "../../gen/google/protobuf/any";
import { ErrorInfo, RetryInfo } from "../../gen/google/rpc/error_details";
import { Status } from "../../gen/google/rpc/status";
import { STATUS_DETAILS_KEY } from "../../wire/status-details";

/** Set in ErrorInfo metadata when some details were left out to keep the trailers small. */
export const DETAILS_TRUNCATED_KEY = "details_truncated";

export function toGrpcStatus(err: ServiceError, requestId: string): Partial<StatusObject> {
  const metadata = new Metadata();
  metadata.set("x-dreamengine-request-id", requestId);
  const message = clipBytes(err.message, limits.errorMessageBytesMax);
  const retry: Any[] = [];
  if (err.retryAfterS !== undefined) {
    const seconds = Math.ceil(err.retryAfterS);
    retry.push(Any.fromPartial({ typeUrl: "type.googleapis.com/google.rpc.RetryInfo", value: RetryInfo.encode({ retryDelay: { seconds, nanos: 0 } }).finish() }));
    metadata.set("retry-after", String(Math.max(1, seconds)));
  }
  metadata.set(STATUS_DETAILS_KEY, boundedStatus(err, message, requestId, retry));
  for (const [name, value] of Object.entries(err.headers)) if (isTrailerWeMaySet(name, value, metadata)) metadata.set(name, value);
  return { code: err.code as number, details: message, metadata };
}

// Metadata keys grpc-js accepts (it throws on others), and the printable-ASCII values of a text key.
const LEGAL_KEY = /^[0-9a-z_.-]+$/;
const LEGAL_TEXT_VALUE = /^[ -~]*$/;
/** HTTP/2 and HTTP/1 framing names that mean nothing, or something else, in a trailer. */
const FRAMING_KEYS = new Set(["content-type", "content-length", "te", "connection", "transfer-encoding", "host", "user-agent"]);

/** An error header as a trailer: a legal text key that neither grpc-js nor this function already owns. */
function isTrailerWeMaySet(name: string, value: string, metadata: Metadata): boolean {
  if (!LEGAL_KEY.test(name) || !LEGAL_TEXT_VALUE.test(value)) return false;
  // -bin keys carry bytes, and grpc-* are the protocol's own (grpc-status, grpc-message, …).
  if (name.endsWith("-bin") || name.startsWith("grpc-") || FRAMING_KEYS.has(name)) return false;
  return metadata.get(name).length === 0;
}

/** google.rpc.Status with as many ErrorInfo entries as fit in limits.errorDetailsBytesMax. */
function boundedStatus(err: ServiceError, message: string, requestId: string, retry: Any[]): Buffer {
  const encode = (info: Record<string, string>): Buffer => {
    const errorInfo = Any.fromPartial({ typeUrl: "type.googleapis.com/google.rpc.ErrorInfo", value: ErrorInfo.encode({ reason: err.reason, domain: ERROR_DOMAIN, metadata: info }).finish() });
    return Buffer.from(Status.encode({ code: err.code, message, details: [errorInfo, ...retry] }).finish());
  };
  const info: Record<string, string> = { request_id: requestId };
  let encoded = encode(info);
  let dropped = false;
  // Entry by entry, so one oversized detail costs only itself (errors carry a handful of entries).
  for (const [k, v] of Object.entries(err.details)) {
    const next = encode({ ...info, [k]: Array.isArray(v) ? JSON.stringify(v) : String(v) });
    if (next.length > limits.errorDetailsBytesMax) {
      dropped = true;
      continue;
    }
    info[k] = Array.isArray(v) ? JSON.stringify(v) : String(v);
    encoded = next;
  }
  if (dropped) {
    const marked = encode({ ...info, [DETAILS_TRUNCATED_KEY]: "true" });
    if (marked.length <= limits.errorDetailsBytesMax) encoded = marked;
  }
  return encoded;
}
