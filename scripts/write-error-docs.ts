// Writes docs/ERRORS.md from src/core/errors.ts (test/repo/error-docs.test.ts keeps them level).
import fs from "node:fs";
import path from "node:path";
import { Code, errorTable } from "../src/core/errors";

let out = `# Errors

One closed vocabulary for gRPC, REST and both SDKs (\`src/core/errors.ts\`; regenerate this file with
\`npx tsx scripts/write-error-docs.ts\`, and a test keeps the two level).

Over gRPC the status carries \`grpc-status-details-bin\` = google.rpc.Status with an \`ErrorInfo\` (reason,
domain \`dreamengine.dev\`, details as string metadata) and, for errors with a retry delay, a \`RetryInfo\`.
Over HTTP the body is \`{"error": {"code", "reason", "message", "request_id", ...details}}\` with
\`X-DreamEngine-Request-Id\`, and \`Retry-After\` (whole seconds) where a delay applies.

Errors never grow with what the caller sent: a value echoed from the request (a slug, a field, an id)
is cut to \`limits.errorEchoCharsMax\` characters with its length (\`aaa…(30000 chars)\`), a message to
\`limits.errorMessageBytesMax\` bytes, and the details to \`limits.errorDetailsBytesMax\`; details that do
not fit are dropped and \`details_truncated: "true"\` says so. Authentication and rate limits are
checked on the headers (gRPC: metadata) before any body is read: a bad key gets its 401 without the
body being read, and repeated bad keys from one address get 429 \`RATE_LIMITED\`.

| reason | gRPC code | HTTP | retryable | when |
|---|---|---|---|---|
`;
for (const [reason, info] of Object.entries(errorTable)) {
  out += `| \`${reason}\` | \`${Code[info.code]}\` | ${info.http} | ${info.retryable ? "yes" : "no"} | ${info.summary} |\n`;
}
out += `
Python SDK classes: INVALID_ARGUMENT, UNSUPPORTED_MEDIA_TYPE, PAYLOAD_TOO_LARGE → ValidationError; UNAUTHENTICATED,
PERMISSION_DENIED → AuthError; INSUFFICIENT_CREDITS → InsufficientCreditsError(balance_cents, requested_cents,
balance_usd, requested_usd); MODEL_NOT_FOUND → ModelNotFoundError; RATE_LIMITED → RateLimitError(retry_after);
ENGINE_FAILURE → EngineError; UNAVAILABLE → ServerError; MODEL_UNAVAILABLE → ModelNotActiveError.
The TypeScript client raises DreamError with the same \`reason\`.
`;
fs.writeFileSync(path.resolve(__dirname, "..", "docs", "ERRORS.md"), out);
