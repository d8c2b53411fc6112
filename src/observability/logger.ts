// Structured JSON logs (pino). Secrets never reach a log line: the redact paths below cover API keys,
// Authorization headers, Stripe secrets and webhook bodies even if a caller logs them by mistake.
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
];

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, base: { svc: "dream-engine" }, redact: { paths: REDACT_PATHS, censor: "[redacted]" } }, destination);
}

export const silentLogger: Logger = pino({ level: "silent" });
