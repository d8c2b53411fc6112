// Signs a webhook payload exactly as Stripe does, for tests (here and end-to-end) that must not import
// `stripe` themselves. Never used on a request path.
import Stripe from "stripe";

export function signTestWebhookPayload(options: { payload: string; secret: string; timestampS?: number }): string {
  return Stripe.webhooks.generateTestHeaderString({ payload: options.payload, secret: options.secret, timestamp: options.timestampS });
}
