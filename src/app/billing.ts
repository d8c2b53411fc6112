// src/billing (+ Stripe top-ups) → the service's BillingPort, counting outcomes for /metrics.
import { scopedRequestId, type BillingService } from "../billing";
import type { Topups } from "../billing/stripe";
import { TOP_UP_WITH_STRIPE, topUpWithOperator } from "../billing/views";
import { ServiceError } from "../core/errors";
import type { Metrics } from "../observability/metrics";
import type { Account, BillingPort } from "../service/ports";

export function billingPort(billing: BillingService, topups: Topups, holdTtlMs: number, metrics: Metrics): BillingPort {
  const reserveGated: NonNullable<BillingPort["reserveGated"]> = async (account, requestId, amountMicros) => {
    const refused = (err: unknown): never => {
      if (err instanceof ServiceError && err.reason === "INSUFFICIENT_CREDITS") {
        metrics.observeBilling("insufficient_credits");
        // Without Stripe the top-up endpoint answers 412: point at what works instead.
        if (!topups.configured) throw new ServiceError(err.reason, err.message.replace(TOP_UP_WITH_STRIPE, topUpWithOperator(account.customerId)), err.details, err.retryAfterS);
      }
      throw err;
    };
    const gated = await billing.reserveGated({ customerId: account.customerId, requestId: scopedRequestId(account.customerId, requestId), amountMicros, ttlMs: holdTtlMs }).catch(refused);
    const recorded = gated.recorded.then((r) => {
      if (r.duplicate) {
        // The id belongs to an earlier request (running or settled): never run, or bill, it twice.
        throw new ServiceError("INVALID_ARGUMENT", `request_id: ${requestId} was already used by an earlier request; send a fresh id`, { field: "request_id" });
      }
      metrics.observeBilling("reserved", amountMicros);
    }, refused);
    recorded.catch(() => undefined); // the caller looks when it needs to
    return { recorded };
  };
  return {
    async authenticate(rawKey) {
      const a = await billing.authenticate(rawKey);
      // The service's own Account shape: the billing module's carries more than a handler needs.
      const account: Account = { customerId: a.customerId, keyId: a.keyId, rateLimit: a.rateLimit };
      if (a.stripeCustomerId !== null) account.paymentCustomerId = a.stripeCustomerId;
      return account;
    },
    async reserve(account, requestId, amountMicros) {
      await (await reserveGated(account, requestId, amountMicros)).recorded;
    },
    reserveGated,
    async post(account, requestId, actualMicros) {
      const s = await billing.post(scopedRequestId(account.customerId, requestId), actualMicros);
      metrics.observeBilling("posted", s.capturedMicros);
    },
    async void(account, requestId) {
      await billing.void(scopedRequestId(account.customerId, requestId));
      metrics.observeBilling("voided");
    },
    balance: (account) => billing.balance(account.customerId),
    transactions: async (account, limit) =>
      (await billing.transactions(account.customerId, limit)).map((t) => ({ ...t, requestId: t.requestId ?? "" })),
    createTopup: (account, amountUsd) =>
      topups.createTopup({ customerId: account.customerId, stripeCustomerId: account.paymentCustomerId, amountUsd }),
  };
}
