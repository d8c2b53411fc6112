// One closed error vocabulary, shared by gRPC, REST and both SDKs. A ServiceError carries a gRPC-style
// code and a stable machine-readable reason; `errorTable` maps each reason to its gRPC status and HTTP
// status. docs/ERRORS.md mirrors this table and a test keeps the two level.
//
// An error never grows with its input: user-supplied values are echoed through `echo` (at most
// limits.errorEchoCharsMax characters), and the constructor bounds every message and detail whatever
// a call site did, because an unbounded echo once made a gRPC trailer too large to send.
import { limits } from "./limits";

/** gRPC status codes (numeric values are the wire values). */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

export const ERROR_DOMAIN = "dreamengine.dev";

interface ReasonInfo {
  code: Code;
  http: number;
  /** Whether a client may retry the same request unchanged (SDK RetryPolicy honours this). */
  retryable: boolean;
  summary: string;
}

export const errorTable = {
  INVALID_ARGUMENT: { code: Code.INVALID_ARGUMENT, http: 400, retryable: false, summary: "bad frame, actions, shape or parameter; the message names the field, expected and given" },
  UNAUTHENTICATED: { code: Code.UNAUTHENTICATED, http: 401, retryable: false, summary: "missing or unknown API key" },
  PERMISSION_DENIED: { code: Code.PERMISSION_DENIED, http: 403, retryable: false, summary: "revoked API key" },
  INSUFFICIENT_CREDITS: { code: Code.FAILED_PRECONDITION, http: 402, retryable: false, summary: "balance does not cover the price; checked before any GPU work" },
  MODEL_NOT_FOUND: { code: Code.NOT_FOUND, http: 404, retryable: false, summary: "unknown model slug" },
  NOT_FOUND: { code: Code.NOT_FOUND, http: 404, retryable: false, summary: "unknown route, request id or resource" },
  METHOD_NOT_ALLOWED: { code: Code.UNIMPLEMENTED, http: 405, retryable: false, summary: "HTTP method not served on a known path; the Allow header lists those that are" },
  PAYLOAD_TOO_LARGE: { code: Code.RESOURCE_EXHAUSTED, http: 413, retryable: false, summary: "request body or message over its limit" },
  UNSUPPORTED_MEDIA_TYPE: { code: Code.INVALID_ARGUMENT, http: 415, retryable: false, summary: "content type the endpoint does not accept" },
  RATE_LIMITED: { code: Code.RESOURCE_EXHAUSTED, http: 429, retryable: true, summary: "token bucket empty; Retry-After says when to come back" },
  TOPUPS_NOT_CONFIGURED: { code: Code.FAILED_PRECONDITION, http: 412, retryable: false, summary: "Stripe keys are not configured on this server" },
  DEADLINE_EXCEEDED: { code: Code.DEADLINE_EXCEEDED, http: 504, retryable: true, summary: "the request could not start, or finish, before its deadline; only generated frames are billed" },
  CANCELLED: { code: Code.CANCELLED, http: 499, retryable: false, summary: "the client cancelled; only generated frames are billed" },
  STREAM_STALLED: { code: Code.RESOURCE_EXHAUSTED, http: 503, retryable: false, summary: "a streaming reader fell too far behind; the request was cancelled and only generated frames are billed" },
  ENGINE_FAILURE: { code: Code.INTERNAL, http: 500, retryable: false, summary: "engine error after admission; the pre-debit is already refunded" },
  INTERNAL: { code: Code.INTERNAL, http: 500, retryable: false, summary: "unexpected server error" },
  UNAVAILABLE: { code: Code.UNAVAILABLE, http: 503, retryable: true, summary: "model not loaded, queue full, server draining, or a store it needs (Redis, Postgres) unreachable; Retry-After says when to retry" },
  MODEL_UNAVAILABLE: { code: Code.UNAVAILABLE, http: 503, retryable: false, summary: "the model is listed but its weights are not installed or failed to load" },
} as const satisfies Record<string, ReasonInfo>;

export type Reason = keyof typeof errorTable;

export type ErrorDetails = Record<string, string | number | boolean | null | number[] | string[]>;

const ELLIPSIS = "…";

/** `text` cut to at most `max` UTF-16 units without splitting a surrogate pair. */
function headChars(text: string, max: number): string {
  let end = Math.min(max, text.length);
  const last = text.charCodeAt(end - 1);
  if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/**
 * A user-supplied value as an error may echo it: itself when short, else its first
 * limits.errorEchoCharsMax characters, an ellipsis and its original length ("aaa…(30000 chars)"),
 * so the error still shows what was sent without carrying all of it.
 */
export function echo(value: unknown, max: number = limits.errorEchoCharsMax): string {
  const text = typeof value === "string" ? value : String(value);
  if (text.length <= max) return text;
  return `${headChars(text, max)}${ELLIPSIS}(${text.length} chars)`;
}

/** `echo` in double quotes, JSON-escaped: for a value that may be empty, spaced or odd. */
export const quoted = (value: unknown): string => JSON.stringify(echo(value));

/** `text` cut to at most `max` UTF-8 bytes (an ellipsis and the original size mark the cut). */
export function clipBytes(text: string, max: number): string {
  const bytes = Buffer.byteLength(text);
  if (bytes <= max) return text;
  const marker = `${ELLIPSIS}(${bytes} bytes)`;
  const room = Math.max(0, max - Buffer.byteLength(marker));
  // Decoding a cut in the middle of a character leaves U+FFFD at the end; drop it.
  const head = Buffer.from(text.slice(0, room)).subarray(0, room).toString("utf8").replace(/\uFFFD+$/, "");
  return head + marker;
}

function boundedDetails(details: ErrorDetails): ErrorDetails {
  const out: ErrorDetails = {};
  for (const [k, v] of Object.entries(details)) {
    if (typeof v === "string") out[k] = echo(v);
    else if (Array.isArray(v) && v.some((x) => typeof x === "string")) out[k] = (v as string[]).map((x) => echo(x));
    else out[k] = v;
  }
  return out;
}

/**
 * Response headers as an error may carry them: names lower-cased, values strings, and within
 * limits.errorHeadersBytesMax counted as HTTP/2 does (name + value + 32 per entry, RFC 7541 §4.1),
 * entries that do not fit left out. On gRPC they share the trailer block with grpc-message (≤ 3x the
 * message limit once percent-encoded) and the details (≤ errorDetailsBytesMax, base64), and the
 * whole block must stay under the 8 KiB a grpc-js client accepts by default.
 */
const HPACK_ENTRY_OVERHEAD_BYTES = 32;

function boundedHeaders(base: Readonly<Record<string, string>>, more: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const merged = new Map(Object.entries(base));
  for (const [name, value] of Object.entries(more)) merged.set(name.toLowerCase(), String(value));
  const out: Record<string, string> = {};
  let bytes = 0;
  for (const [name, value] of merged) {
    const size = Buffer.byteLength(name) + Buffer.byteLength(value) + HPACK_ENTRY_OVERHEAD_BYTES;
    if (bytes + size > limits.errorHeadersBytesMax) continue;
    Object.defineProperty(out, name, { value, enumerable: true }); // "__proto__" stays a plain key
    bytes += size;
  }
  return Object.freeze(out);
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

export class ServiceError extends Error {
  override name = "ServiceError";
  readonly code: Code;
  readonly http: number;
  /** Machine-readable extras; every string in them is bounded like an echo (see `echo`). */
  readonly details: ErrorDetails;
  /**
   * Response headers that belong with this error and that only its thrower can compute (the RateLimit
   * and RateLimit-Policy of a 429), like connect-es's ConnectError.metadata: REST sends them as HTTP
   * headers, gRPC as trailers. Lower-case names; never in the body. Set with `withHeaders`.
   */
  readonly headers: Readonly<Record<string, string>> = NO_HEADERS;
  constructor(
    readonly reason: Reason,
    message: string,
    details: ErrorDetails = {},
    /** Seconds a client should wait before retrying (429, 503). */
    readonly retryAfterS?: number,
  ) {
    super(clipBytes(message, limits.errorMessageBytesMax));
    this.details = boundedDetails(details);
    this.code = errorTable[reason].code;
    this.http = errorTable[reason].http;
  }

  get retryable(): boolean {
    return errorTable[this.reason].retryable;
  }

  /**
   * This error with `headers` added (a new name replaces an older one), as a new error of the same
   * class: message, details, cause and stack are kept as they are (not bounded twice), and an error
   * already thrown elsewhere is never changed under its other holders.
   */
  withHeaders(headers: Readonly<Record<string, string>>): this {
    const next = Object.create(Object.getPrototypeOf(this) as object) as this;
    Object.defineProperties(next, Object.getOwnPropertyDescriptors(this));
    Object.defineProperty(next, "headers", { value: boundedHeaders(this.headers, headers), writable: false, enumerable: true, configurable: true });
    return next;
  }

  /**
   * Any thrown value as a ServiceError; unknown errors become INTERNAL "internal error". The original
   * is kept as `cause` (as ES2022 `new Error(msg, { cause })` does: non-enumerable) so logs can name
   * it; renderers send only reason, message and details, so it never reaches a client.
   */
  static from(err: unknown): ServiceError {
    if (err instanceof ServiceError) return err;
    const internal = new ServiceError("INTERNAL", "internal error");
    Object.defineProperty(internal, "cause", { value: err, writable: true, configurable: true, enumerable: false });
    return internal;
  }
}

/** `field` may come from the request (a JSON key, a query parameter), so it is echoed bounded. */
export const invalidArgument = (field: string, message: string, details: ErrorDetails = {}): ServiceError =>
  new ServiceError("INVALID_ARGUMENT", `${echo(field)}: ${message}`, { field, ...details });
