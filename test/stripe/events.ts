// Builds Stripe webhook payloads shaped like the real ones, and signs them with Stripe's own helper.
import { randomBytes } from "node:crypto";
import { signTestWebhookPayload } from "../../src/billing/stripe";
import type { FakeCheckoutSession } from "../fakes/fake-stripe-server";

export const randomEventId = (): string => `evt_test_${randomBytes(12).toString("hex")}`;

export interface EventOptions {
  id?: string;
  paymentStatus?: "paid" | "unpaid" | "no_payment_required";
  /** Field overrides on the session object inside the event. */
  session?: Record<string, unknown>;
}

/** The JSON text Stripe would POST for `type`, carrying `session` as completed. */
export function checkoutEventPayload(type: string, session: FakeCheckoutSession, options: EventOptions = {}): string {
  const paymentStatus = options.paymentStatus ?? "paid";
  const object = {
    ...session,
    status: "complete",
    payment_status: paymentStatus,
    payment_intent: `pi_${session.id.slice(-12)}`,
    ...options.session,
  };
  return JSON.stringify({
    id: options.id ?? randomEventId(),
    object: "event",
    api_version: "2025-10-29.clover",
    created: Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  });
}

export function signed(payload: string, secret: string, timestampS?: number): { body: Buffer; header: string } {
  return { body: Buffer.from(payload, "utf8"), header: signTestWebhookPayload({ payload, secret, timestampS }) };
}
