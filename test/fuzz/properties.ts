// What must hold after every fuzz case: the answer came back within the bound; nothing 5xx but the
// documented 503s (gRPC: no INTERNAL, UNKNOWN or DATA_LOSS, UNAVAILABLE only with a documented reason);
// error bodies stay small whatever was echoed; the caller's balance is untouched unless it succeeded.
import { errorTable } from "../../src/core/errors";
import type { Answer } from "./send";

/** Reasons whose documented HTTP status is 503: the only 5xx (and gRPC UNAVAILABLE) the surface may answer. */
export const DOCUMENTED_503_REASONS = new Set(Object.entries(errorTable).filter(([, e]) => e.http === 503).map(([r]) => r));
/** No error, whatever it echoes, may be larger than this (the long-slug trailer stalled a connection). */
export const ERROR_BYTES_MAX = 4096;
const GRPC_FORBIDDEN = new Set([2, 13, 15]); // UNKNOWN, INTERNAL, DATA_LOSS
const GRPC_UNAVAILABLE = 14;

/**
 * Why this answer breaks a property, or undefined when it keeps them all. `deadlineSet`: the case
 * itself asked for a deadline (grpc-timeout), so its documented 504 DEADLINE_EXCEEDED is the answer it
 * chose, not a server failure.
 */
export function answerViolation(a: Answer, deadlineSet = false): string | undefined {
  if (a.status === "none") return "no answer within the bound";
  if (a.status === "transport") return `connection failed before an answer (${a.detail})`;
  if (a.errorBytes > ERROR_BYTES_MAX) return `error of ${a.errorBytes} bytes (max ${ERROR_BYTES_MAX})`;
  if (a.status.startsWith("grpc:")) {
    const code = Number(a.status.slice(5));
    if (GRPC_FORBIDDEN.has(code)) return `gRPC code ${code}: ${a.detail?.slice(0, 200)}`;
    if (code === GRPC_UNAVAILABLE && !DOCUMENTED_503_REASONS.has(a.reason ?? "")) return `UNAVAILABLE without a documented reason: ${a.detail?.slice(0, 200)}`;
    return undefined;
  }
  const status = Number(a.status);
  if (status === 504 && deadlineSet && a.reason === "DEADLINE_EXCEEDED") return undefined;
  if (Number.isFinite(status) && status >= 500 && !(status === 503 && DOCUMENTED_503_REASONS.has(a.reason ?? ""))) return `HTTP ${status} reason ${a.reason}`;
  return undefined;
}
