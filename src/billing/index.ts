// Public surface of billing for the service layer, the CLI and the Stripe/rate-limit modules.
export { BillingService, type BillingServiceDeps, type CreateKeyInput, type CreditResult, type Reservation, type ReserveInput, type SettlementView } from "./billing";
export { createBilling, type BillingConfig } from "./factory";
export type { Account } from "./keys/authenticator";
export type { BillingLogger } from "./logger";
export type { Drift, ReconcileReport } from "./reconcile";
export type { SweepReport } from "./sweeper";
export type { BalanceView, KeyInfo, TransactionView } from "./views";
export { insufficientCredits } from "./views";
export { parseUsdToMicros } from "./usd";
export { clientRequestId, scopedRequestId } from "./request-scope";
export { createRedis, type RedisClient } from "./redis/connection";
