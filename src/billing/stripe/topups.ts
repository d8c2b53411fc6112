// Stripe Checkout top-ups: create a one-time Checkout Session for an amount, and credit the balance
// when Stripe's signed webhook says it was paid — exactly once per session however often Stripe
// redelivers (it retries any non-2xx for days, and may deliver an event twice or out of order).
import { assert } from "../../core/assert";
import { ServiceError } from "../../core/errors";
import { topupAmount } from "./amount";
import { createStripeClient, StripeErrors, type StripeClient } from "./client";
import { decideCredit } from "./credit-decision";
import { serviceErrorFromStripe } from "./stripe-errors";
import type { CreateTopupRequest, StripeTopupsConfig, TopupCreditor, TopupLogger, TopupSession, Topups, WebhookResponse } from "./types";
import { webhookError, webhookOk } from "./webhook-body";

const silentLogger: TopupLogger = { warn: () => {}, error: () => {} };

export class StripeTopups implements Topups {
  readonly configured = true;
  private readonly stripe: StripeClient;
  private readonly logger: TopupLogger;
  /**
   * Credits in flight in this process, by session. Redeliveries racing each other share one creditor
   * call; across processes the creditor's unique constraint on the session is what guarantees once.
   */
  private readonly inflight = new Map<string, Promise<{ credited: boolean }>>();

  constructor(
    private readonly config: StripeTopupsConfig,
    private readonly creditor: TopupCreditor,
  ) {
    assert(config.secretKey !== "" && config.webhookSecret !== "", "StripeTopups needs both Stripe keys; use createTopups() to get the not-configured variant");
    assert((config.currency ?? "usd") === "usd", "balances are micro-USD: top-ups must be in usd");
    this.stripe = createStripeClient(config.secretKey, config.client);
    this.logger = config.logger ?? silentLogger;
  }

  async createTopup(request: CreateTopupRequest): Promise<TopupSession> {
    assert(request.customerId !== "", "customerId comes from the authenticated key and is never empty");
    const { amountCents, amountMicros, amountUsd } = topupAmount(request.amountUsd);
    let session;
    try {
      session = await this.stripe.checkout.sessions.create(
        {
          mode: "payment",
          line_items: [
            {
              quantity: 1,
              price_data: {
                currency: "usd",
                unit_amount: amountCents,
                product_data: { name: "Dream Engine credits", description: `$${amountUsd.toFixed(2)} of prepaid inference credit` },
              },
            },
          ],
          client_reference_id: request.customerId,
          // Read back by the webhook: who to credit, and the amount to cross-check amount_total against.
          metadata: { customer_id: request.customerId, amount_micros: String(amountMicros) },
          ...(request.stripeCustomerId ? { customer: request.stripeCustomerId } : {}),
          success_url: this.config.successUrl,
          cancel_url: this.config.cancelUrl,
        },
        // Scoped by customer: request ids come from clients, and two customers may pick the same one.
        request.idempotencyKey ? { idempotencyKey: `topup:${request.customerId}:${request.idempotencyKey}` } : undefined,
      );
    } catch (err) {
      const mapped = serviceErrorFromStripe(err);
      this.logger.warn({ err: errorSummary(err), customer_id: request.customerId }, "stripe: creating a checkout session failed");
      throw mapped;
    }
    if (session.url === null) throw new ServiceError("INTERNAL", "the payment provider returned a session without a checkout url");
    return { sessionId: session.id, url: session.url, amountCents, amountUsd, customerId: request.customerId };
  }

  async handleWebhook(rawBody: Buffer, signatureHeader: string | undefined): Promise<WebhookResponse> {
    assert(Buffer.isBuffer(rawBody), "the webhook needs the raw request bytes, not parsed JSON");
    if (signatureHeader === undefined || signatureHeader === "") {
      return webhookError(400, "INVALID_ARGUMENT", "stripe-signature: header is missing");
    }
    let event;
    try {
      event = this.stripe.webhooks.constructEvent(rawBody, signatureHeader, this.config.webhookSecret);
    } catch (err) {
      const message =
        err instanceof StripeErrors.StripeSignatureVerificationError
          ? "stripe-signature: does not match the body (wrong webhook secret, modified body, or too old)"
          : "body: not a valid Stripe event";
      return webhookError(400, "INVALID_ARGUMENT", message);
    }
    const decision = decideCredit(event);
    switch (decision.kind) {
      case "ignore":
        return webhookOk({ credited: false, ignored: decision.reason });
      case "reject":
        this.logger.error({ event_id: event.id, event_type: event.type, reason: decision.reason }, "stripe: top-up event not credited");
        return webhookError(422, "INVALID_ARGUMENT", `not credited: ${decision.reason}`);
      case "credit": {
        try {
          const { credited } = await this.creditOnce(decision.customerId, decision.amountMicros, decision.sessionId, decision.eventId);
          return webhookOk({ credited, duplicate: !credited, session_id: decision.sessionId });
        } catch (err) {
          const permanent = permanentReason(err);
          if (permanent !== undefined) {
            // Acknowledged: Stripe would redeliver a non-2xx for days, and no redelivery can succeed.
            this.logger.warn({ err: errorSummary(err), event_id: event.id, session_id: decision.sessionId, customer_id: decision.customerId }, "stripe: top-up event can never be applied; acknowledged without credit");
            return webhookOk({ credited: false, not_applied: permanent, session_id: decision.sessionId });
          }
          this.logger.error({ err: errorSummary(err), event_id: event.id, session_id: decision.sessionId }, "stripe: crediting a top-up failed; Stripe will retry");
          return webhookError(500, "INTERNAL", "could not record the top-up; Stripe will redeliver the event");
        }
      }
    }
  }

  private creditOnce(customerId: string, amountMicros: number, sessionId: string, eventId: string): Promise<{ credited: boolean }> {
    assert(Number.isSafeInteger(amountMicros) && amountMicros > 0, `top-up micros must be a positive integer, got ${amountMicros}`);
    const running = this.inflight.get(sessionId);
    if (running !== undefined) return running.then(() => ({ credited: false }));
    const credit = this.creditor.creditTopup(customerId, amountMicros, sessionId, eventId).finally(() => this.inflight.delete(sessionId));
    this.inflight.set(sessionId, credit);
    return credit;
  }
}

/**
 * Why a creditor failure can never succeed on redelivery (unknown customer, a conflicting session), or
 * undefined for a transient one. Only a typed error that is neither retryable nor INTERNAL counts as
 * permanent: anything unrecognised (a ledger outage, a bug) answers 5xx so Stripe keeps the event.
 */
function permanentReason(err: unknown): string | undefined {
  if (!(err instanceof ServiceError) || err.retryable || err.reason === "INTERNAL" || err.reason === "ENGINE_FAILURE") return undefined;
  return `${err.reason}: ${err.message}`;
}

/** Error summary for logs: type and message only (Stripe errors carry request headers we don't log). */
function errorSummary(err: unknown): Record<string, unknown> {
  if (err instanceof StripeErrors.StripeError) return { type: err.type, message: err.message, status: err.statusCode };
  if (err instanceof Error) return { type: err.name, message: err.message };
  return { type: typeof err };
}
