// What the facade returns: integer micros plus the display views docs/API.md specifies (mils,
// cents, USD), derived only here at the edge.
import { clientRequestId } from "./request-scope";
import { ServiceError } from "../core/errors";
import { microsToCentsCeil, microsToCentsRounded, microsToMilsFloor, microsToUsd, microsToUsdString } from "../core/money";
import type { Entry, KeyRow } from "./ledger/ledger";

export interface BalanceView {
  customerId: string;
  /** Available: credits minus every debit; a running request's hold is already subtracted. */
  balanceMicros: number;
  balanceMils: number;
  /** Half-up, for display. */
  balanceCents: number;
  balanceUsd: number;
  /** Held by requests still running (already subtracted from balanceMicros). */
  heldMicros: number;
}

export function balanceView(customerId: string, balanceMicros: number, heldMicros: number): BalanceView {
  return {
    customerId,
    balanceMicros,
    balanceMils: microsToMilsFloor(balanceMicros),
    balanceCents: microsToCentsRounded(balanceMicros),
    balanceUsd: microsToUsd(balanceMicros),
    heldMicros,
  };
}

export interface TransactionView {
  id: string;
  /** grant | topup | debit (the pre-debit of a request) | refund (frames not produced, failure, expiry). */
  kind: string;
  /** Signed: credits and refunds positive, debits negative. */
  amountMicros: number;
  amountCents: number;
  /** Running balance after this entry. */
  balanceMicros: number;
  balanceCents: number;
  requestId: string | null;
  /** ISO 8601. */
  createdAt: string;
  description: string;
}

export function transactionView(e: Entry): TransactionView {
  return {
    id: `txn_${e.entryId}`,
    kind: e.kind,
    amountMicros: e.amountMicros,
    amountCents: microsToCentsRounded(e.amountMicros),
    balanceMicros: e.balanceAfterMicros,
    balanceCents: microsToCentsRounded(e.balanceAfterMicros),
    // Holds are keyed by (customer, request id); the customer sees its own request id.
    requestId: e.requestId === null ? null : clientRequestId(e.customerId, e.requestId),
    createdAt: new Date(e.createdAtMs).toISOString(),
    description: e.description,
  };
}

export interface KeyInfo {
  keyId: string;
  customerId: string;
  stripeCustomerId: string | null;
  name: string;
  createdAt: string;
  revokedAt: string | null;
  rateLimit: { ratePerS: number; burst: number };
}

export function keyInfo(r: KeyRow): KeyInfo {
  return {
    keyId: r.keyId,
    customerId: r.customerId,
    stripeCustomerId: r.stripeCustomerId,
    name: r.name,
    createdAt: new Date(r.createdAtMs).toISOString(),
    revokedAt: r.revokedAtMs === null ? null : new Date(r.revokedAtMs).toISOString(),
    rateLimit: { ratePerS: r.ratePerS, burst: r.burst },
  };
}

/** What the 402 message tells the caller to do where Stripe top-ups are configured. */
export const TOP_UP_WITH_STRIPE = "top up with POST /v1/billing/topup";

/** What it tells them where they are not (that endpoint answers 412 TOPUPS_NOT_CONFIGURED there). */
export function topUpWithOperator(customerId: string): string {
  return `top-ups are not enabled on this server: ask its operator to run \`dream-engine credits grant ${customerId} <usd>\``;
}

/** 402: the balance (half-up cents) does not cover the request (cents rounded UP, never understated). */
export function insufficientCredits(balanceMicros: number, requestedMicros: number): ServiceError {
  // The store may dip below zero for a moment after a rebuild (OPERATIONS.md); users never see that.
  const balance = Math.max(0, balanceMicros);
  return new ServiceError(
    "INSUFFICIENT_CREDITS",
    `insufficient credits: balance $${microsToUsdString(balance)}, this request costs $${microsToUsdString(requestedMicros)}; ${TOP_UP_WITH_STRIPE}`,
    {
      balance_cents: microsToCentsRounded(balance),
      requested_cents: microsToCentsCeil(requestedMicros),
      balance_micros: balance,
      requested_micros: requestedMicros,
      balance_usd: microsToUsd(balance),
      requested_usd: microsToUsd(requestedMicros),
    },
  );
}

export function billingUnavailable(what: string): ServiceError {
  return new ServiceError("UNAVAILABLE", `${what}; nothing was charged, retry shortly`, {}, 1);
}
