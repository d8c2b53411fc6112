// GENERATED from src/core/errors.ts's errorTable by test/clients/retryable-reasons.test.ts
// (run it with DREAM_WRITE_GENERATED=1 to rewrite); do not edit by hand. The TS client decides what it
// may retry from this, and src/wire may not import core, hence a committed copy checked fresh.

/** Every ErrorInfo.reason the server can send (docs/ERRORS.md). */
export const ERROR_REASONS = [
  "INVALID_ARGUMENT",
  "UNAUTHENTICATED",
  "PERMISSION_DENIED",
  "INSUFFICIENT_CREDITS",
  "MODEL_NOT_FOUND",
  "NOT_FOUND",
  "METHOD_NOT_ALLOWED",
  "PAYLOAD_TOO_LARGE",
  "UNSUPPORTED_MEDIA_TYPE",
  "RATE_LIMITED",
  "TOPUPS_NOT_CONFIGURED",
  "DEADLINE_EXCEEDED",
  "CANCELLED",
  "STREAM_STALLED",
  "ENGINE_FAILURE",
  "INTERNAL",
  "UNAVAILABLE",
  "MODEL_UNAVAILABLE",
] as const;

/** The reasons for which the same request may be sent again unchanged. */
export const RETRYABLE_REASONS: ReadonlySet<string> = new Set([
  "RATE_LIMITED",
  "DEADLINE_EXCEEDED",
  "UNAVAILABLE",
]);
