// The book of record for money. Postgres (or embedded PGlite) holds append-only entries in integer
// micro-USD; a hold's outcome is decided here, once, by a primary key. See docs/OPERATIONS.md.

export type EntryKind = "grant" | "topup" | "debit" | "refund";
export type HoldOutcome = "posted" | "voided" | "expired";

export interface Entry {
  entryId: number;
  customerId: string;
  /** Per-customer version after this entry (see Customer.seq). */
  seq: number;
  kind: EntryKind;
  /** Signed: credits and refunds positive, debits negative. */
  amountMicros: number;
  balanceAfterMicros: number;
  requestId: string | null;
  description: string;
  createdAtMs: number;
}

export interface Hold {
  requestId: string;
  customerId: string;
  amountMicros: number;
  expiresAtMs: number;
  /** Customer seq at which the debit for this hold was recorded. */
  holdSeq: number;
  createdAtMs: number;
}

export interface Settlement {
  requestId: string;
  customerId: string;
  outcome: HoldOutcome;
  heldMicros: number;
  capturedMicros: number;
  releasedMicros: number;
  holdSeq: number;
  /** Customer seq at which the settlement was recorded (bumped even when nothing is refunded). */
  settleSeq: number;
  createdAtMs: number;
}

export interface CustomerSnapshot {
  customerId: string;
  /** Available balance: credits minus every debit (a pending hold is already debited). */
  balanceMicros: number;
  /** Bumped by every money movement of this customer; orders the Redis mirror's updates. */
  seq: number;
  openHolds: Hold[];
}

export interface LedgerTotals {
  grantedMicros: number;
  toppedUpMicros: number;
  capturedMicros: number;
  heldMicros: number;
  balanceMicros: number;
}

export type CreditInput =
  | { kind: "grant"; customerId: string; amountMicros: number; grantKey: string; description: string; atMs: number }
  | { kind: "topup"; customerId: string; amountMicros: number; stripeSessionId: string; stripeEventId: string | null; description: string; atMs: number };

/** A committed credit as announced to other processes: enough to mirror it (seq-guarded) into a store. */
export interface CreditNotice {
  customerId: string;
  amountMicros: number;
  seq: number;
}

export type HoldResult = { status: "held"; hold: Hold; created: boolean; balanceMicros: number } | { status: "insufficient"; balanceMicros: number };

export interface Ledger {
  /** One round trip; throws LedgerUnavailableError when unreachable. */
  ping(): Promise<void>;
  /** Idempotent; creates the customer row money hangs off. */
  ensureCustomer(customerId: string, atMs: number): Promise<void>;
  customerExists(customerId: string): Promise<boolean>;
  /** Idempotent per grant key / Stripe session (and event) id. Throws LedgerNotFoundError for an unknown customer. */
  credit(input: CreditInput): Promise<{ entry: Entry; created: boolean }>;
  /** Debits the hold atomically iff the balance covers it; idempotent per request id. */
  hold(input: { customerId: string; requestId: string; amountMicros: number; expiresAtMs: number; atMs: number }): Promise<HoldResult>;
  /** First outcome wins (primary key on request id); later calls return it with created=false. null = no such hold. */
  settle(input: { requestId: string; outcome: HoldOutcome; capturedMicros: number; atMs: number }): Promise<{ settlement: Settlement; created: boolean } | null>;
  holdStatus(requestId: string): Promise<{ hold: Hold; settlement: Settlement | null } | null>;
  /**
   * Moves the expiry of these unsettled holds to expiresAtMs (never earlier): the heartbeat of requests
   * still running. Settled or unknown ids are ignored. Returns how many holds were renewed.
   */
  renewHolds(requestIds: string[], expiresAtMs: number): Promise<number>;
  /** Unsettled holds whose expiry is at or before nowMs, oldest first. */
  expiredHolds(nowMs: number, limit: number): Promise<Hold[]>;
  balance(customerId: string): Promise<{ balanceMicros: number; heldMicros: number; seq: number }>;
  /** Newest first. */
  transactions(customerId: string, limit: number): Promise<Entry[]>;
  /**
   * Runs fn with a consistent snapshot while money movements of the covered customers (all when
   * customerIds is null) wait, so that nothing commits between the snapshot and fn's mirror update.
   */
  withSnapshot<T>(customerIds: string[] | null, fn: (snapshot: CustomerSnapshot[]) => Promise<T>): Promise<T>;
  totals(customerId?: string): Promise<LedgerTotals>;
  /**
   * Calls onCredit for every grant/top-up committed by any process (the CLI included), as soon as it
   * commits; onGap when some may have been missed (the listening connection was lost and is back).
   * null when no other process can write this ledger (embedded PGlite).
   */
  subscribeCredits(onCredit: (credit: CreditNotice) => void, onGap: () => void): Promise<{ close(): Promise<void> } | null>;
  /** Internal consistency checks (sums, running balances, hold/settlement pairs); human-readable problems. */
  verify(): Promise<string[]>;
}

export interface KeyRow {
  keyId: string;
  keyHash: Buffer;
  customerId: string;
  stripeCustomerId: string | null;
  name: string;
  ratePerS: number;
  burst: number;
  createdAtMs: number;
  revokedAtMs: number | null;
}

export interface KeyStore {
  insertKey(row: { keyId: string; keyHash: Buffer; customerId: string; name: string; createdAtMs: number }): Promise<void>;
  findKeyByHash(keyHash: Buffer): Promise<KeyRow | null>;
  findKey(keyId: string): Promise<KeyRow | null>;
  listKeys(customerId?: string): Promise<KeyRow[]>;
  /** Returns the row (revoked, possibly earlier) or null when unknown. */
  revokeKey(keyId: string, atMs: number): Promise<KeyRow | null>;
  setRateLimit(keyId: string, ratePerS: number, burst: number): Promise<KeyRow | null>;
  attachStripeCustomer(customerId: string, stripeCustomerId: string): Promise<void>;
  customerByStripeId(stripeCustomerId: string): Promise<string | null>;
}

/** The ledger could not be reached (connection refused, reset, timeout): nothing was written. */
export class LedgerUnavailableError extends Error {
  override name = "LedgerUnavailableError";
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
  }
}

export class LedgerNotFoundError extends Error {
  override name = "LedgerNotFoundError";
}

/** An idempotency key was reused for a different customer or amount. */
export class LedgerConflictError extends Error {
  override name = "LedgerConflictError";
}
