// The hot balance store: the atomic admission gate in front of the ledger. reserve() checks and holds
// in one atomic step; post/void/expire settle a hold exactly once. Redis (Lua) in production, an
// in-process map on embedded defaults; both pass test/billing/balance-store.conformance.ts.
//
// The store mirrors the ledger (docs/OPERATIONS.md "Source of truth"): when a settlement or credit
// carries ledger seqs (LedgerMirror / seq), the store applies it at most once and only if its last
// rebuild from the ledger did not already include it. Without seqs, the calls have plain store
// semantics (first outcome wins), which is what the conformance suite and the benchmark exercise.

export type HoldState = "pending" | "posted" | "voided" | "expired" | "cancelled";

export interface HoldView {
  requestId: string;
  customerId: string;
  heldMicros: number;
  expiresAtMs: number;
  state: HoldState;
  capturedMicros: number;
  releasedMicros: number;
}

export type ReserveResult =
  | { status: "held"; availableMicros: number; expiresAtMs: number }
  /** The request id already has a hold (any state); nothing changed. */
  | { status: "duplicate"; availableMicros: number; hold: HoldView }
  | { status: "insufficient"; availableMicros: number };

export type SettleStatus =
  | "applied" // this call settled the hold
  | "already" // settled before (hold shows the first outcome) or, with a mirror, already included by a rebuild
  | "unknown" // no such hold
  | "not-expired" // expire() without a mirror before the hold's expiry
  | "inconsistent"; // mirror seqs contradict the store: resync the customer from the ledger

export interface SettleResult {
  status: SettleStatus;
  hold: HoldView | null;
}

/** The ledger's record of a settlement, so that the store can mirror it exactly once. */
export interface LedgerMirror {
  customerId: string;
  heldMicros: number;
  holdSeq: number;
  settleSeq: number;
}

/** One customer as the ledger sees it; the store is overwritten to match (rebuild / repair). */
export interface CustomerState {
  customerId: string;
  balanceMicros: number;
  seq: number;
  openHolds: { requestId: string; amountMicros: number; expiresAtMs: number }[];
}

/** A settlement the ledger could not record yet (it was unreachable); kept in the store until it is. */
export interface SettlementIntent {
  requestId: string;
  outcome: "posted" | "voided";
  capturedMicros: number;
  atMs: number;
}

export interface BalanceStore {
  readonly kind: "redis" | "memory";
  /** Atomically: if available >= amount, move amount from available to held under requestId. Idempotent per requestId. */
  reserve(customerId: string, amountMicros: number, requestId: string, ttlMs: number): Promise<ReserveResult>;
  /** Capture actual (<= held) and release the rest. Throws AssertionError when actual > held. */
  post(requestId: string, actualMicros: number, mirror?: LedgerMirror): Promise<SettleResult>;
  /** Release the whole hold. */
  void(requestId: string, mirror?: LedgerMirror): Promise<SettleResult>;
  /** Release an expired hold (the sweeper). Without a mirror, only once the hold's expiry has passed. */
  expire(requestId: string, mirror?: LedgerMirror): Promise<SettleResult>;
  /** Move a pending hold's expiry to expiresAtMs (never earlier): its request is still running. False when not pending. */
  renew(requestId: string, expiresAtMs: number): Promise<boolean>;
  /** Release a hold the ledger never recorded (its write failed, or the server died before it). */
  cancel(requestId: string): Promise<SettleResult>;
  /** Add to available; with seq, at most once per (customer, seq) and only if newer than the last rebuild. */
  credit(customerId: string, amountMicros: number, seq?: number): Promise<{ applied: boolean; availableMicros: number }>;
  balance(customerId: string): Promise<{ availableMicros: number; heldMicros: number }>;
  hold(requestId: string): Promise<HoldView | null>;
  /** Pending holds whose expiry is at or before nowMs, oldest first. */
  expiredHolds(nowMs: number, limit: number): Promise<HoldView[]>;
  customers(): Promise<string[]>;

  /** True when the store holds a complete mirror of the ledger (rebuilt since its last loss). */
  ready(): Promise<boolean>;
  /** Take the rebuild lock and mark the store not ready; null when another process is rebuilding. */
  beginRebuild(): Promise<string | null>;
  /** Overwrite these customers with the ledger's state. token: during a rebuild; undefined: repair of a ready store. */
  resync(states: CustomerState[], token?: string): Promise<void>;
  /** Mark the store ready again; false if the lock was lost (e.g. the server was flushed mid-rebuild). */
  finishRebuild(token: string): Promise<boolean>;
  /** Called when the backing server lost or may have lost its data (restart detected). */
  onLost(listener: () => void): void;

  queueIntent(intent: SettlementIntent): Promise<void>;
  intents(): Promise<SettlementIntent[]>;
  intent(requestId: string): Promise<SettlementIntent | null>;
  dropIntent(requestId: string): Promise<void>;

  close(): Promise<void>;
}

/** The store lost its mirror (flushed, restarted, never built) and must be rebuilt from the ledger. */
export class StoreNotReadyError extends Error {
  override name = "StoreNotReadyError";
}

/** The store could not be reached; nothing was changed by this call. */
export class StoreUnavailableError extends Error {
  override name = "StoreUnavailableError";
  constructor(message: string, override readonly cause?: unknown) {
    super(message);
  }
}

export const STORE_DEFAULTS = Object.freeze({
  /** How long a settled hold is remembered (duplicate posts answer with its first outcome). */
  tombstoneTtlMs: 24 * 60 * 60 * 1000,
  /** How long a mirrored credit's seq is remembered against double application. */
  creditMarkerTtlMs: 7 * 24 * 60 * 60 * 1000,
  /** A rebuild lock older than this is considered abandoned. */
  rebuildLockTtlMs: 60_000,
});
