// The only place a Stripe client is constructed (and, with test-signing.ts, the only runtime import of
// `stripe`): backends are imported in exactly one folder each.
import Stripe from "stripe";
import type { StripeClientOptions } from "./types";

export type StripeClient = Stripe;

export function createStripeClient(secretKey: string, options: StripeClientOptions = {}): StripeClient {
  return new Stripe(secretKey, {
    host: options.host,
    port: options.port,
    protocol: options.protocol,
    maxNetworkRetries: options.maxNetworkRetries ?? 2,
    timeout: options.timeoutMs ?? 30_000,
    telemetry: options.telemetry ?? false,
    appInfo: { name: "dream-engine" },
  });
}

/** Errors from the Stripe API, for mapping onto our vocabulary (stripe-errors.ts). */
export const StripeErrors = Stripe.errors;
