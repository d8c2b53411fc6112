// Billing.GetBalance, CreateTopup, ListTransactions. Balance and transactions are free metadata calls
// but still need a key (they are the key's customer's money).
import { invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import { microsToCentsRounded, microsToMilsFloor, microsToUsd } from "../core/money";
import type { Balance, CreateTopupRequest, CreateTopupResponse, ListTransactionsRequest, ListTransactionsResponse } from "../gen/dream/v1/dream";
import type { Account, BillingPort } from "./ports";

export const TRANSACTIONS_DEFAULT_LIMIT = 50;

export async function getBalance(billing: BillingPort, account: Account): Promise<Balance> {
  const b = await billing.balance(account);
  return {
    customerId: b.customerId,
    balanceMicros: b.balanceMicros,
    balanceMils: microsToMilsFloor(b.balanceMicros),
    balanceCents: microsToCentsRounded(b.balanceMicros),
    balanceUsd: microsToUsd(b.balanceMicros),
    heldMicros: b.heldMicros,
  };
}

export async function createTopup(billing: BillingPort, req: CreateTopupRequest, account: Account): Promise<CreateTopupResponse> {
  const usd = req.amountUsd;
  if (!Number.isFinite(usd) || usd < limits.topupUsdMin || usd > limits.topupUsdMax) {
    throw invalidArgument("amount_usd", `must be between ${limits.topupUsdMin} and ${limits.topupUsdMax} USD, got ${usd}`, { expected: `${limits.topupUsdMin}..${limits.topupUsdMax}`, given: usd });
  }
  return billing.createTopup(account, usd);
}

export async function listTransactions(billing: BillingPort, req: ListTransactionsRequest, account: Account): Promise<ListTransactionsResponse> {
  const limit = req.limit || TRANSACTIONS_DEFAULT_LIMIT;
  if (limit > limits.transactionsListMax) {
    throw invalidArgument("limit", `must be in 1..${limits.transactionsListMax}, got ${limit}`);
  }
  const rows = await billing.transactions(account, limit);
  return {
    transactions: rows.map((t) => ({
      id: t.id,
      kind: t.kind,
      amountMicros: t.amountMicros,
      amountCents: microsToCentsRounded(t.amountMicros),
      balanceMicros: t.balanceMicros,
      requestId: t.requestId,
      createdAt: t.createdAt,
      description: t.description,
    })),
  };
}
