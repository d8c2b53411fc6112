// What a verified Stripe event means for balances: credit, ignore, or reject. Pure, so every branch is
// testable without HTTP or signatures.
//
// Amount: taken from the session's amount_total (what Stripe actually charged, in cents) and required
// to equal the metadata.amount_micros we wrote when creating the session. A mismatch (someone edited
// the session, a discount we never offer, a session created by other code on the same Stripe account
// with our metadata) is not credited: it is rejected so it stays visible as a failed delivery in the
// Stripe dashboard for an operator, instead of crediting a guess.
import type Stripe from "stripe";
import { MICROS_PER_CENT } from "../../core/money";

export type CreditDecision =
  | { kind: "credit"; customerId: string; amountMicros: number; sessionId: string; eventId: string }
  | { kind: "ignore"; reason: string }
  | { kind: "reject"; reason: string };

export const CREDIT_EVENT_TYPES = ["checkout.session.completed", "checkout.session.async_payment_succeeded"] as const;

export function decideCredit(event: Stripe.Event): CreditDecision {
  if (event.type !== "checkout.session.completed" && event.type !== "checkout.session.async_payment_succeeded") {
    return { kind: "ignore", reason: `event type ${event.type} does not complete a top-up` };
  }
  const session = event.data.object;
  const customerId = session.metadata?.customer_id;
  if (customerId === undefined || customerId === "") {
    return { kind: "ignore", reason: "not a Dream Engine top-up (no metadata.customer_id)" };
  }
  if (session.payment_status !== "paid") {
    // A delayed payment method (bank debit) completes unpaid; async_payment_succeeded follows.
    if (event.type === "checkout.session.completed") return { kind: "ignore", reason: `payment_status is ${session.payment_status}; not paid yet` };
    return { kind: "reject", reason: `async_payment_succeeded with payment_status ${session.payment_status}` };
  }
  if (session.mode !== "payment") return { kind: "reject", reason: `session mode is ${session.mode}, expected payment` };
  if (session.client_reference_id !== null && session.client_reference_id !== customerId) {
    return { kind: "reject", reason: "client_reference_id does not match metadata.customer_id" };
  }
  if (session.currency !== "usd") return { kind: "reject", reason: `currency is ${String(session.currency)}, expected usd` };
  const cents = session.amount_total;
  if (cents === null || !Number.isSafeInteger(cents) || cents <= 0) {
    return { kind: "reject", reason: `amount_total is ${String(cents)}, expected a positive integer of cents` };
  }
  const amountMicros = cents * MICROS_PER_CENT;
  if (session.metadata?.amount_micros !== String(amountMicros)) {
    return { kind: "reject", reason: `amount_total ${cents} cents does not match metadata.amount_micros ${String(session.metadata?.amount_micros)}` };
  }
  return { kind: "credit", customerId, amountMicros, sessionId: session.id, eventId: event.id };
}
