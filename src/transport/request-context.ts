// Request headers → CallContext, for both transports. gRPC metadata and HTTP headers carry the same
// things (request id, API key, deadline) under the same lower-case names, and a client that switches
// transport must get the same answer: so there is one parser here, and each transport only says how to
// read one header and what it knows itself (peer address, its own deadline, the abort signal).
//
// Choices where the two used to differ:
// - request id: X-DreamEngine-Request-Id, else X-Request-Id; a header whose value is unusable is
//   skipped (the next one is tried), and with none usable the id is fresh. Never an error: the
//   response header tells the client which id was used.
// - API key: RFC 6750 `Bearer <b64token>` — scheme case-insensitive, one or more spaces, a token of
//   token68 characters, trailing whitespace tolerated. Anything else leaves the key undefined (401).
// - deadline: grpc-timeout (gRPC's own header syntax) and X-DreamEngine-Deadline-Ms, and the
//   transport's own deadline where it has one (grpc-js consumes grpc-timeout itself); the earliest wins.
//   A malformed header is INVALID_ARGUMENT naming it, never silently ignored.

import { invalidArgument, ServiceError } from "../core/errors";
import { requestIdOrNew } from "../core/ids";
import { limits } from "../core/limits";
import type { CallContext } from "../service/context";

/** The first value of a header (lower-case name), or undefined when absent. */
export type HeaderGetter = (name: string) => string | undefined;

/** What the transport knows about a call beyond its headers. */
export interface ContextFacts {
  /** Caller address, already normalised by the transport. */
  peer: string;
  /** When the transport first saw the call, in Clock.wallMs() terms. */
  nowWallMs: number;
  /** Fires when the client goes away or the deadline passes (see armDeadline). */
  signal: AbortSignal;
  /** A deadline the transport enforces itself (grpc-js's), in wall ms; undefined when none. */
  transportDeadlineWallMs?: number;
  /** The id the transport already chose from these same headers (REST picks it first, for its error answers). */
  requestId?: string;
  /** Upper bound on X-DreamEngine-Deadline-Ms; default limits.deadlineMsMax. */
  deadlineMsMax?: number;
}

export const REQUEST_ID_HEADERS = ["x-dreamengine-request-id", "x-request-id"] as const;

/** A valid client-chosen id (X-DreamEngine-Request-Id, else X-Request-Id) or a fresh UUID; never an error. */
export function requestIdFromHeaders(get: HeaderGetter): string {
  for (const name of REQUEST_ID_HEADERS) {
    const given = get(name)?.trim();
    if (!given) continue;
    try {
      return requestIdOrNew(given);
    } catch {
      // An unusable id must not fail the call; the response header tells the client which id we used.
    }
  }
  return requestIdOrNew(undefined);
}

// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token; b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=". The scheme is case-insensitive (RFC 9110 §11.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i;

/** The token of "Bearer <token>"; anything else leaves the key undefined and the guard answers 401. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = BEARER.exec(authorization);
  return m ? m[1] : undefined;
}

const GRPC_TIMEOUT_UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 };

/** Relative deadline in ms from grpc-timeout and X-DreamEngine-Deadline-Ms (the earlier wins); undefined when neither is sent. */
export function headerDeadlineMs(get: HeaderGetter, deadlineMsMax: number = limits.deadlineMsMax): number | undefined {
  let ms: number | undefined;
  const grpcTimeout = get("grpc-timeout");
  if (grpcTimeout !== undefined) {
    const m = /^(\d{1,8})([HMSmun])$/.exec(grpcTimeout.trim());
    if (!m) throw invalidArgument("grpc-timeout", `expected 1-8 digits and a unit (H, M, S, m, u, n), got ${JSON.stringify(grpcTimeout.slice(0, 20))}`);
    ms = Number(m[1]) * GRPC_TIMEOUT_UNIT_MS[m[2]!]!;
  }
  const deadlineMs = get("x-dreamengine-deadline-ms");
  if (deadlineMs !== undefined) {
    const n = /^\d{1,10}$/.test(deadlineMs.trim()) ? Number(deadlineMs) : NaN;
    if (!(n >= 1 && n <= deadlineMsMax)) throw invalidArgument("X-DreamEngine-Deadline-Ms", `expected an integer in [1, ${deadlineMsMax}], got ${JSON.stringify(deadlineMs.slice(0, 20))}`);
    ms = ms === undefined ? n : Math.min(ms, n);
  }
  return ms;
}

/**
 * The CallContext for a call with these headers. Throws INVALID_ARGUMENT for a malformed deadline
 * header; nothing else in the headers can fail a call here (a bad key is the guard's to refuse).
 */
export function contextFromHeaders(get: HeaderGetter, facts: ContextFacts): CallContext {
  const relativeMs = headerDeadlineMs(get, facts.deadlineMsMax);
  const fromHeaders = relativeMs === undefined ? undefined : facts.nowWallMs + relativeMs;
  return {
    requestId: facts.requestId ?? requestIdFromHeaders(get),
    apiKey: bearerToken(get("authorization")),
    peer: facts.peer,
    signal: facts.signal,
    deadlineWallMs: earlier(fromHeaders, facts.transportDeadlineWallMs),
    receivedWallMs: facts.nowWallMs,
    responseHeaders: new Map(),
  };
}

const earlier = (a: number | undefined, b: number | undefined): number | undefined => (a === undefined ? b : b === undefined ? a : Math.min(a, b));

// setTimeout treats anything above 2^31-1 ms (~24.8 days) as 1 ms; such a deadline needs no timer.
const TIMER_MS_MAX = 2_147_483_647;

/**
 * Aborts `controller` with DEADLINE_EXCEEDED when ctx's deadline passes, unless the transport enforces
 * that deadline itself (grpc-js cancels at its own). Returns the function that stops the timer.
 */
export function armDeadline(controller: AbortController, ctx: CallContext, facts: Pick<ContextFacts, "nowWallMs" | "transportDeadlineWallMs">): () => void {
  const at = ctx.deadlineWallMs;
  if (at === undefined || (facts.transportDeadlineWallMs !== undefined && at >= facts.transportDeadlineWallMs)) return () => undefined;
  const inMs = Math.max(0, Math.ceil(at - facts.nowWallMs));
  if (inMs > TIMER_MS_MAX) return () => undefined;
  const timer = setTimeout(() => controller.abort(new ServiceError("DEADLINE_EXCEEDED", `deadline of ${inMs} ms passed`)), inMs);
  timer.unref();
  const stop = (): void => clearTimeout(timer);
  // A call that ended some other way (client gone) needs its timer no longer.
  controller.signal.addEventListener("abort", stop, { once: true });
  return stop;
}
