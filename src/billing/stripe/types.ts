// What the Stripe top-up module needs from the rest of billing, and what it offers to the service layer.
// The ledger is built elsewhere; this module only sees the narrow TopupCreditor below.

/**
 * Credits a paid top-up to a customer's balance. Implemented by the ledger.
 *
 * Contract: idempotent per `stripeSessionId` (a unique constraint, not a check-then-insert): the first
 * call for a session credits and returns {credited: true}; every later call for the same session,
 * whatever its event id, credits nothing and returns {credited: false}. `stripeEventId` is recorded
 * for audit (and may carry its own unique constraint). Throwing means "not recorded": the webhook then
 * answers 5xx and Stripe redelivers.
 */
export interface TopupCreditor {
  creditTopup(customerId: string, amountMicros: number, stripeSessionId: string, stripeEventId: string): Promise<{ credited: boolean }>;
}

export interface CreateTopupRequest {
  /** Our customer id (from the authenticated API key). */
  customerId: string;
  /** The customer's Stripe customer id when one exists, so Checkout pre-fills their details. */
  stripeCustomerId?: string;
  /** As the user typed it: 5 … 10,000, whole cents. */
  amountUsd: number;
  /** Passed to Stripe as Idempotency-Key (e.g. the request id): a retried call returns the same session. */
  idempotencyKey?: string;
}

export interface TopupSession {
  sessionId: string;
  url: string;
  amountCents: number;
  amountUsd: number;
  customerId: string;
}

/** The webhook's answer, for the transport to send as-is (JSON body). */
export interface WebhookResponse {
  status: number;
  body: Record<string, unknown>;
}

export interface Topups {
  /** False for the "not configured" implementation (no Stripe keys). */
  readonly configured: boolean;
  createTopup(request: CreateTopupRequest): Promise<TopupSession>;
  /** `rawBody` must be the exact bytes received: the signature is over them, not over parsed JSON. */
  handleWebhook(rawBody: Buffer, signatureHeader: string | undefined): Promise<WebhookResponse>;
}

/** Where the Stripe client connects; defaults are Stripe's own. Tests point it at a local fake server. */
export interface StripeClientOptions {
  host?: string;
  port?: number;
  protocol?: "http" | "https";
  /** Retries on network errors and 5xx; stripe-node adds an idempotency key so retries never duplicate. */
  maxNetworkRetries?: number;
  timeoutMs?: number;
  /** Stripe's request-latency telemetry; off unless asked for. */
  telemetry?: boolean;
}

/** Pino-compatible subset, so the module can report without depending on the logger. */
export interface TopupLogger {
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface StripeTopupsConfig {
  secretKey: string;
  webhookSecret: string;
  /** Where Checkout sends the payer afterwards; may contain Stripe's {CHECKOUT_SESSION_ID} template. */
  successUrl: string;
  cancelUrl: string;
  /** Balances are micro-USD, so only USD top-ups make sense. */
  currency?: "usd";
  client?: StripeClientOptions;
  logger?: TopupLogger;
}
