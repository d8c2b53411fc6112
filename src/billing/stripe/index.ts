// Public surface of Stripe top-ups. `stripe` is imported only in this folder.
// Transport note: POST /v1/billing/stripe/webhook must hand handleWebhook() the raw body bytes and the
// `stripe-signature` header, and send back {status, body} as JSON.
export type {
  CreateTopupRequest,
  StripeClientOptions,
  StripeTopupsConfig,
  TopupCreditor,
  TopupLogger,
  TopupSession,
  Topups,
  WebhookResponse,
} from "./types";
export { topupAmount, type TopupAmount } from "./amount";
export { StripeTopups } from "./topups";
export { NotConfiguredTopups, TOPUPS_NOT_CONFIGURED_MESSAGE } from "./not-configured";
export { createTopups, TopupsConfigError, type TopupsSettings } from "./factory";
export { decideCredit, CREDIT_EVENT_TYPES, type CreditDecision } from "./credit-decision";
export { signTestWebhookPayload } from "./test-signing";
