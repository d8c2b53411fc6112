// Structured JSON logs (pino). Secrets never reach a log line: the redact paths below cover API keys,
// Authorization headers, Stripe secrets and webhook bodies even if a caller logs them by mistake, and
// anything shaped like an API key or a Stripe secret is scrubbed from every line as it is written.
import pino from "pino";

export type Logger = pino.Logger;

export const REDACT_PATHS = [
  "apiKey",
  "rawKey",
  "key",
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "stripeSecretKey",
  "webhookSecret",
  "rawBody",
  "body",
  "signature",
  "*.apiKey",
  "*.rawKey",
  "*.authorization",
  // The names Config.stripe and the Stripe top-ups config use, at the depths a caller reaches by
  // logging `{ stripe }` or `{ config }`.
  "secretKey",
  "*.secretKey",
  "*.*.secretKey",
  "*.webhookSecret",
  "*.*.webhookSecret",
  "*.stripeSecretKey",
  "*.rawBody",
  "*.signature",
];

/**
 * Secrets recognised by their shape wherever they are (inside a message, an error string, any key):
 * API keys, Stripe secret/restricted keys and webhook signing secrets. The last line of defence
 * behind REDACT_PATHS, applied to every line before it is written.
 *
 * No word boundaries: a secret is a secret after a word character too ("%ZZdre_…" in a bad path,
 * "Bearer%20dre_…" in a URL), and the underscores may be URL-encoded (%5F). An API key is matched from
 * 16 body characters on, so one cut short by an echo or followed by more letters is scrubbed as well;
 * Stripe keys need 16 too, so words like "task_test_run" stay readable.
 */
const UNDERSCORE = "(?:_|%5[Ff])";
const SECRET_SHAPES = new RegExp(
  [
    `dre${UNDERSCORE}[a-z2-7]{16,}`,
    `(?:sk|rk)${UNDERSCORE}(?:live|test)${UNDERSCORE}[0-9A-Za-z]{16,}`,
    `whsec${UNDERSCORE}(?:[0-9A-Za-z+/=]|%[0-9A-Fa-f]{2})+`,
  ].join("|"),
  "g",
);

export function scrubSecrets(line: string): string {
  return line.replace(SECRET_SHAPES, "[redacted]");
}

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { svc: "dream-engine" }, redact: { paths: REDACT_PATHS, censor: "[redacted]" }, hooks: { streamWrite: scrubSecrets } }, destination);
}

export const silentLogger: Logger = pino({ level: "silent" });
