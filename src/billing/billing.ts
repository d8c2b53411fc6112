// The billing facade the service layer uses. Two-phase money (TigerBeetle-style pending → post | void):
//
//   reserve:  store gate (atomic check + hold, Lua/in-process) → ledger hold (durable pre-debit, with
//             its own CHECK against overspend). Either refusing → 402. Ledger unreachable → the store
//             hold is cancelled and the caller gets UNAVAILABLE: no GPU work without a durable record.
//   post/void: ledger first (the arbiter: one outcome per request id), then the store mirrors it.
//             Ledger unreachable → the outcome goes to the outbox and is recorded when it is back.
//   renewal:  while a request runs, this process moves its hold's expiry forward (ledger and store)
//             every TTL/3, so only a dead server's holds ever expire; post captures at any age.
//   sweeper:  expires holds whose server died, records the outbox, retries store updates.
//
// See docs/OPERATIONS.md for the consistency argument and the failure table.
import { assert } from "../core/assert";
import type { Clock } from "../core/clock";
import { invalidArgument, ServiceError } from "../core/errors";
import { limits } from "../core/limits";
import { assertMicros } from "../core/money";
import type { TopupCreditor } from "./stripe/types";
import { Authenticator, type Account } from "./keys/authenticator";
import { CUSTOMER_ID, generateApiKey, hashApiKey, newKeyId, newLocalCustomerId } from "./keys/api-key";
import { LedgerConflictError, LedgerNotFoundError, LedgerUnavailableError, type CreditInput, type HoldOutcome, type KeyStore, type Ledger } from "./ledger/ledger";
import type { SqlDriver } from "./ledger/sql-driver";
import { silentBillingLogger, type BillingLogger } from "./logger";
import { Mirror } from "./mirror";
import { Outbox } from "./outbox";
import { reconcile, type Drift, type ReconcileOptions, type ReconcileReport } from "./reconcile";
import { recordSettlement } from "./settle";
import { StoreNotReadyError, StoreUnavailableError, type BalanceStore, type HoldState } from "./store/balance-store";
import { sweep, type SweepReport } from "./sweeper";
import { balanceView, billingUnavailable, insufficientCredits, keyInfo, transactionView, type BalanceView, type KeyInfo, type TransactionView } from "./views";

export interface BillingServiceDeps {
  ledger: Ledger;
  keys: KeyStore;
  store: BalanceStore;
  clock: Clock;
  holdTtlMs: number;
  logger?: BillingLogger;
  /** Background sweep period; 0 = no timer (tests call sweep()). Default 1000. */
  sweepIntervalMs?: number;
  /** How often running requests' holds are renewed; 0 = no timer (tests call renewHolds()). Default holdTtlMs / 3. */
  renewIntervalMs?: number;
  /** Background reconcile period (repairs drift seen twice unchanged); 0 = off. Default 60000. */
  reconcileIntervalMs?: number;
  /** API key lookups are cached this long; revocation elsewhere takes effect within it. Default 5000. */
  authCacheTtlMs?: number;
  /** Store-only holds older than TTL + this are released as orphans. Default 5000. */
  orphanGraceMs?: number;
  /** Closes the backends (ledger connection, store connection). */
  closeBackends?: () => Promise<void>;
  /** For health reporting. */
  ledgerKind?: string;
  /** The ledger's SQL driver, shared with the jobs store (PGlite's data dir opens once per process). */
  sql?: SqlDriver;
}

export interface ReserveInput {
  customerId: string;
  requestId: string;
  amountMicros: number;
  /** Defaults to the configured hold TTL; must outlast the request. */
  ttlMs?: number;
}

export interface Reservation {
  requestId: string;
  customerId: string;
  heldMicros: number;
  expiresAtMs: number;
  /** Balance left after this hold (as the ledger or the store saw it). */
  balanceMicros: number;
  /** The request id already had a hold; nothing new was held. */
  duplicate: boolean;
  /** pending for a live hold; a settled state when a duplicate arrives after settlement (do not run again). */
  state: HoldState;
}

export interface SettlementView {
  requestId: string;
  customerId: string | null;
  /** The recorded outcome (the first one if the hold was already settled), or "pending" when the ledger was unreachable and the outcome waits in the outbox. */
  outcome: HoldOutcome | "pending";
  heldMicros: number;
  capturedMicros: number;
  releasedMicros: number;
  /** Durably recorded in the ledger now. */
  recorded: boolean;
  /** This call decided the outcome (false: a previous post/void/expiry had). */
  first: boolean;
}

export interface CreditResult {
  customerId: string;
  entryId: number;
  amountMicros: number;
  /** False when this idempotency key / Stripe session was credited before. */
  credited: boolean;
  balanceMicros: number;
}

export interface CreateKeyInput {
  name: string;
  /** Starter credits granted to the key's customer. */
  creditsMicros?: number;
  /** Existing customer (another key for them) or a Stripe customer id; default a new cus_local_… */
  customerId?: string;
}

const NAME = /^[^\u0000-\u001f\u007f]+$/;

export class BillingService implements TopupCreditor {
  readonly storeKind: string;
  readonly ledgerKind: string;
  /** The ledger database's driver, for the jobs tables beside billing's; never for billing's own tables. */
  readonly sql: SqlDriver | undefined;
  private readonly ledger: Ledger;
  private readonly keys: KeyStore;
  private readonly store: BalanceStore;
  private readonly clock: Clock;
  private readonly log: BillingLogger;
  private readonly auth: Authenticator;
  private readonly mirror: Mirror;
  private readonly outbox: Outbox;
  private readonly timers: NodeJS.Timeout[] = [];
  private sweeping: Promise<SweepReport> | undefined;
  /** Holds of requests running in this process (request id → TTL): renewed until settled. */
  private readonly running = new Map<string, number>();
  private renewing: Promise<number> | undefined;
  private credits: { close(): Promise<void> } | null = null;
  private previousDrift = new Map<string, string>();
  private closed = false;

  constructor(private readonly deps: BillingServiceDeps) {
    assert(Number.isSafeInteger(deps.holdTtlMs) && deps.holdTtlMs > 0 && deps.holdTtlMs <= limits.holdTtlMsMax, `holdTtlMs must be in (0, ${limits.holdTtlMsMax}]`);
    this.ledger = deps.ledger;
    this.keys = deps.keys;
    this.store = deps.store;
    this.clock = deps.clock;
    this.log = deps.logger ?? silentBillingLogger;
    this.storeKind = deps.store.kind;
    this.ledgerKind = deps.ledgerKind ?? "sql";
    this.sql = deps.sql;
    this.auth = new Authenticator(deps.keys, deps.clock, { cacheTtlMs: deps.authCacheTtlMs ?? 5_000, cacheEntriesMax: 10_000 });
    this.mirror = new Mirror(deps.ledger, deps.store, deps.clock, this.log);
    this.outbox = new Outbox(deps.store, this.log);
  }

  // ----- lifecycle -----

  /** Builds the store from the ledger when needed and starts the background sweeper/reconciler. Migrations run in the factory. */
  async start(): Promise<void> {
    this.store.onLost(() => {
      this.log.warn({ store: this.store.kind }, "balance store restarted or flushed; rebuilding from the ledger");
      void this.mirror.ensure().catch((err) => this.log.error({ err: String(err) }, "balance store rebuild failed; will retry on next use"));
    });
    // Credits committed by another process (the CLI) reach this store at once, not at the next
    // reconcile. Subscribed before the rebuild, so a credit committed meanwhile is in one or the other
    // (the seq guard drops it if both).
    try {
      this.credits = await this.ledger.subscribeCredits(
        (c) => void this.mirror.credit(c.customerId, c.amountMicros, c.seq).catch((err) => this.log.error({ err: String(err) }, "mirroring an announced credit failed")),
        () => void this.reconcile({ repair: true }).catch((err) => this.log.warn({ err: String(err) }, "reconcile after a lost credit subscription failed; the periodic one retries")),
      );
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      this.log.warn({ err: String(err) }, "could not listen for credits; other processes' grants reach this store at the periodic reconcile");
    }
    await this.mirror.ensure();
    const every = (ms: number | undefined, fallback: number, fn: () => Promise<unknown>): void => {
      const period = ms ?? fallback;
      if (period <= 0) return;
      const t = setInterval(() => void fn().catch((err) => this.log.error({ err: String(err) }, "billing background task failed")), period);
      t.unref();
      this.timers.push(t);
    };
    every(this.deps.sweepIntervalMs, 1_000, () => this.sweep());
    // A third of the TTL: two heartbeats can be missed before a running request's hold could expire.
    every(this.deps.renewIntervalMs, Math.max(1, Math.floor(this.deps.holdTtlMs / 3)), () => this.renewHolds());
    every(this.deps.reconcileIntervalMs, 60_000, () => this.periodicReconcile());
  }

  /** Stops background work and closes connections. Open holds stay open (the sweeper of the next server expires them). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.running.clear(); // nothing runs here any more: its holds may expire like a dead server's
    await this.credits?.close().catch(() => undefined);
    await this.sweeping?.catch(() => undefined);
    await this.mirror.flush().catch(() => undefined);
    await this.deps.closeBackends?.();
  }

  /** "ok" per dependency, or what is wrong. */
  async healthChecks(): Promise<Record<string, string>> {
    const ledger = await this.ledger.ping().then(
      () => "ok",
      (err: Error) => `ledger (${this.ledgerKind}) unreachable: ${err.message}`,
    );
    const balances = await this.store.ready().then(
      (ready) => (ready ? "ok" : `balance store (${this.store.kind}) rebuilding from the ledger`),
      (err: Error) => `balance store (${this.store.kind}) unreachable: ${err.message}`,
    );
    return { ledger, balances };
  }

  // ----- accounts -----

  authenticate(rawKey: string | undefined): Promise<Account> {
    return this.auth.authenticate(rawKey);
  }

  async createKey(input: CreateKeyInput): Promise<{ rawKey: string; keyId: string; customerId: string; creditsMicros: number }> {
    const name = input.name.trim();
    if (name === "" || Buffer.byteLength(name) > limits.keyNameBytesMax || !NAME.test(name)) {
      throw invalidArgument("name", `expected 1 to ${limits.keyNameBytesMax} bytes of printable text`);
    }
    const creditsMicros = input.creditsMicros ?? 0;
    if (!Number.isSafeInteger(creditsMicros) || creditsMicros < 0) throw invalidArgument("credits", "expected a non-negative whole number of micro-USD");
    if (input.customerId !== undefined && !CUSTOMER_ID.test(input.customerId)) throw invalidArgument("customer_id", "expected cus_ followed by letters, digits or _");
    const customerId = input.customerId ?? newLocalCustomerId();
    const rawKey = generateApiKey();
    const keyId = newKeyId();
    await this.ledgerCall(async () => {
      await this.ledger.ensureCustomer(customerId, this.clock.wallMs());
      await this.keys.insertKey({ keyId, keyHash: hashApiKey(rawKey), customerId, name, createdAtMs: this.clock.wallMs() });
    });
    if (creditsMicros > 0) await this.grant(customerId, creditsMicros, `starter:${keyId}`, `starter credits for key ${name}`);
    return { rawKey, keyId, customerId, creditsMicros };
  }

  async listKeys(customerId?: string): Promise<KeyInfo[]> {
    return (await this.ledgerCall(() => this.keys.listKeys(customerId))).map(keyInfo);
  }

  async revokeKey(keyId: string): Promise<KeyInfo> {
    const row = await this.ledgerCall(() => this.keys.revokeKey(keyId, this.clock.wallMs()));
    if (!row) throw new ServiceError("NOT_FOUND", `no API key ${keyId}`);
    this.auth.evict(keyId);
    return keyInfo(row);
  }

  async setRateLimit(keyId: string, rateLimit: { ratePerS: number; burst: number }): Promise<KeyInfo> {
    for (const [field, v] of Object.entries(rateLimit)) {
      if (!Number.isSafeInteger(v) || v < 1 || v > 1_000_000) throw invalidArgument(field, "expected a whole number from 1 to 1000000");
    }
    const row = await this.ledgerCall(() => this.keys.setRateLimit(keyId, rateLimit.ratePerS, rateLimit.burst));
    if (!row) throw new ServiceError("NOT_FOUND", `no API key ${keyId}`);
    this.auth.evict(keyId);
    return keyInfo(row);
  }

  /** Link a customer to its Stripe customer (for Checkout pre-fill and webhook lookups). */
  async attachStripeCustomer(customerId: string, stripeCustomerId: string): Promise<void> {
    await this.ledgerCall(() => this.keys.attachStripeCustomer(customerId, stripeCustomerId));
    this.auth.evictCustomer(customerId);
  }

  customerByStripeId(stripeCustomerId: string): Promise<string | null> {
    return this.ledgerCall(() => this.keys.customerByStripeId(stripeCustomerId));
  }

  // ----- money -----

  /** Holds amountMicros for requestId, or throws INSUFFICIENT_CREDITS (402) before any GPU work. */
  async reserve(input: ReserveInput): Promise<Reservation> {
    return (await this.reserveGated(input)).recorded;
  }

  /**
   * reserve in its two steps. Resolves once the balance store's atomic gate has held the amount (a
   * short balance throws INSUFFICIENT_CREDITS here, before any GPU work); `recorded` settles when the
   * ledger has the durable pre-debit, with what reserve returns or throws. A caller may start the
   * engine between the two, provided nothing reaches the customer, and nothing settles, before
   * `recorded` resolves (PredictFlow does; see docs/OPERATIONS.md). A repeated request id is resolved
   * before this returns: `recorded` is then already settled.
   */
  async reserveGated(input: ReserveInput): Promise<{ recorded: Promise<Reservation> }> {
    const { customerId, requestId, amountMicros } = input;
    const ttlMs = input.ttlMs ?? this.deps.holdTtlMs;
    assertMicros(amountMicros);
    assert(amountMicros > 0, "a reservation must be positive");
    assert(Number.isSafeInteger(ttlMs) && ttlMs > 0 && ttlMs <= limits.holdTtlMsMax, `ttlMs must be in (0, ${limits.holdTtlMsMax}]`);
    assert(requestId.length > 0 && Buffer.byteLength(requestId) <= limits.holdKeyBytesMax, "request id must be a validated (customer-scoped) request id");

    const gate = await this.storeCall(() => this.store.reserve(customerId, amountMicros, requestId, ttlMs));
    if (gate.status === "insufficient") throw insufficientCredits(gate.availableMicros, amountMicros);
    if (gate.status === "duplicate") {
      if (gate.hold.customerId !== customerId || gate.hold.heldMicros !== amountMicros) throw invalidArgument("request_id", "already used for a different charge");
      if (gate.hold.state !== "pending") return { recorded: Promise.resolve(this.duplicate(gate.hold.state, requestId, customerId, amountMicros, gate.hold.expiresAtMs, gate.availableMicros)) };
      // Pending in the store: make sure the ledger has it too (its first write may have failed).
      return { recorded: Promise.resolve(await this.recordHold(input, gate.hold.expiresAtMs, false, ttlMs)) };
    }
    const recorded = this.recordHold(input, gate.expiresAtMs, true, ttlMs);
    recorded.catch(() => undefined); // the caller may learn of a failure only once it looks
    return { recorded };
  }

  /** The ledger's half of reserve: the durable pre-debit, with its own check against overspend. */
  private async recordHold(input: ReserveInput, expiresAtMs: number, storeJustHeld: boolean, ttlMs: number): Promise<Reservation> {
    const { customerId, requestId, amountMicros } = input;
    let recorded;
    try {
      recorded = await this.ledger.hold({ customerId, requestId, amountMicros, expiresAtMs, atMs: this.clock.wallMs() });
    } catch (err) {
      await this.cancelInStore(requestId);
      if (err instanceof LedgerUnavailableError) throw billingUnavailable("the billing ledger is unreachable");
      if (err instanceof LedgerConflictError) throw invalidArgument("request_id", "already used for a different charge");
      throw err;
    }
    if (recorded.status === "insufficient") {
      // The store's mirror ran ahead of the ledger; the ledger's own check is final. Resync soon.
      await this.cancelInStore(requestId);
      this.mirror.scheduleRepair(customerId);
      throw insufficientCredits(recorded.balanceMicros, amountMicros);
    }
    if (!recorded.created) {
      const status = await this.ledgerCall(() => this.ledger.holdStatus(requestId));
      if (status?.settlement) {
        // Settled long ago: undo the hold the store just took, or bring a stale pending one in line.
        if (storeJustHeld) await this.cancelInStore(requestId);
        else await this.mirror.settlement(status.settlement);
        return this.duplicate(status.settlement.outcome, requestId, customerId, amountMicros, expiresAtMs, recorded.balanceMicros);
      }
    }
    if (recorded.created && storeJustHeld) await this.confirmStoreHold(customerId, requestId);
    // This call created the hold, so its request runs here: keep the hold alive until post/void.
    if (recorded.created) this.running.set(requestId, ttlMs);
    return { requestId, customerId, heldMicros: amountMicros, expiresAtMs, balanceMicros: recorded.balanceMicros, duplicate: !recorded.created, state: "pending" };
  }

  /**
   * A sweeper (any server) may have released our store hold as an orphan if the ledger write was
   * slower than TTL + grace. The ledger is right; bring the customer's store state back in line.
   */
  private async confirmStoreHold(customerId: string, requestId: string): Promise<void> {
    const hold = await this.store.hold(requestId).catch(() => undefined);
    if (hold === undefined || hold?.state === "pending") return; // unreachable: the sweeper repairs later
    this.log.warn({ requestId, customerId }, "store hold was released while the ledger recorded it; resyncing the customer");
    try {
      await this.mirror.repair([customerId]);
    } catch {
      this.mirror.scheduleRepair(customerId);
    }
  }

  private duplicate(state: HoldState, requestId: string, customerId: string, heldMicros: number, expiresAtMs: number, balanceMicros: number): Reservation {
    return { requestId, customerId, heldMicros, expiresAtMs, balanceMicros, duplicate: true, state };
  }

  private async cancelInStore(requestId: string): Promise<void> {
    try {
      await this.store.cancel(requestId);
    } catch (err) {
      // Left pending in the store; the sweeper releases it once it expires (the ledger never saw it).
      this.log.warn({ requestId, err: String(err) }, "could not release a store hold at once; the sweeper will");
    }
  }

  /** Captures actualMicros (≤ held) and refunds the rest. Idempotent: a second call returns the first outcome. */
  async post(requestId: string, actualMicros: number): Promise<SettlementView> {
    assertMicros(actualMicros);
    assert(actualMicros >= 0, "captured must not be negative");
    return this.settle(requestId, "posted", actualMicros);
  }

  /** Refunds the whole hold (engine failure). Idempotent. */
  void(requestId: string): Promise<SettlementView> {
    return this.settle(requestId, "voided", 0);
  }

  private async settle(requestId: string, outcome: "posted" | "voided", capturedMicros: number): Promise<SettlementView> {
    this.running.delete(requestId);
    const atMs = this.clock.wallMs();
    let result;
    try {
      result = await recordSettlement({ ledger: this.ledger, store: this.store, mirror: this.mirror }, requestId, outcome, capturedMicros, atMs);
    } catch (err) {
      if (!(err instanceof LedgerUnavailableError)) throw err;
      // Never fail a finished request over bookkeeping: the outcome waits in the outbox; the hold stays
      // held (no money moves) until the ledger records it.
      await this.outbox.queue({ requestId, outcome, capturedMicros, atMs });
      this.log.warn({ requestId, outcome }, "ledger unreachable; settlement queued in the outbox");
      return { requestId, customerId: null, outcome: "pending", heldMicros: 0, capturedMicros, releasedMicros: 0, recorded: false, first: true };
    }
    if (result === null) throw new ServiceError("NOT_FOUND", `no hold for request ${requestId}`);
    const s = result.settlement;
    return { requestId, customerId: s.customerId, outcome: s.outcome, heldMicros: s.heldMicros, capturedMicros: s.capturedMicros, releasedMicros: s.releasedMicros, recorded: true, first: result.created };
  }

  async balance(customerId: string): Promise<BalanceView> {
    const b = await this.ledgerCall(() => this.ledger.balance(customerId));
    return balanceView(customerId, b.balanceMicros, b.heldMicros);
  }

  async transactions(customerId: string, limit: number): Promise<TransactionView[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw invalidArgument("limit", `expected a whole number from 1 to ${limits.transactionsListMax}, got ${limit}`);
    const entries = await this.ledgerCall(() => this.ledger.transactions(customerId, Math.min(limit, limits.transactionsListMax)));
    return entries.map(transactionView);
  }

  /** Operator credit, once per idempotencyKey. */
  async grant(customerId: string, amountMicros: number, idempotencyKey: string, description = "operator grant"): Promise<CreditResult> {
    if (idempotencyKey === "" || idempotencyKey.length > 200) throw invalidArgument("idempotency_key", "expected 1 to 200 characters");
    return this.credit({ kind: "grant", customerId, amountMicros, grantKey: idempotencyKey, description, atMs: this.clock.wallMs() });
  }

  /** A paid Stripe Checkout session, credited once per session (TopupCreditor for the webhook). */
  creditTopup(customerId: string, amountMicros: number, stripeSessionId: string, stripeEventId: string): Promise<CreditResult> {
    return this.credit({ kind: "topup", customerId, amountMicros, stripeSessionId, stripeEventId, description: "Stripe top-up", atMs: this.clock.wallMs() });
  }

  private async credit(input: CreditInput): Promise<CreditResult> {
    if (!Number.isSafeInteger(input.amountMicros) || input.amountMicros <= 0) throw invalidArgument("amount", "expected a positive whole number of micro-USD");
    let result;
    try {
      result = await this.ledgerCall(() => this.ledger.credit(input));
    } catch (err) {
      if (err instanceof LedgerNotFoundError) throw new ServiceError("NOT_FOUND", `unknown customer ${input.customerId}`);
      if (err instanceof LedgerConflictError) throw invalidArgument("idempotency_key", err.message);
      throw err;
    }
    // Mirrored even when not new: the first attempt may have committed without reaching the store;
    // the seq makes a second application impossible.
    await this.mirror.credit(input.customerId, input.amountMicros, result.entry.seq);
    const b = await this.ledgerCall(() => this.ledger.balance(input.customerId));
    return { customerId: input.customerId, entryId: result.entry.entryId, amountMicros: input.amountMicros, credited: result.created, balanceMicros: b.balanceMicros };
  }

  // ----- consistency -----

  /**
   * The heartbeat of running requests (also run every renewIntervalMs): moves each one's hold expiry
   * to now + its TTL in the ledger (one statement per TTL) and in the store. Returns the ledger holds
   * renewed. A failure is logged and retried at the next beat; this process's sweeper never expires a
   * running request's hold meanwhile.
   */
  renewHolds(): Promise<number> {
    return (this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined)));
  }

  private async renewOnce(): Promise<number> {
    if (this.running.size === 0) return 0;
    const nowMs = this.clock.wallMs();
    const byTtl = new Map<number, string[]>();
    for (const [requestId, ttlMs] of this.running) byTtl.set(ttlMs, [...(byTtl.get(ttlMs) ?? []), requestId]);
    let renewed = 0;
    for (const [ttlMs, ids] of byTtl) {
      const expiresAtMs = nowMs + ttlMs;
      try {
        renewed += await this.ledger.renewHolds(ids, expiresAtMs);
      } catch (err) {
        if (!(err instanceof LedgerUnavailableError)) throw err;
        this.log.warn({ holds: ids.length }, "ledger unreachable; hold renewal retried at the next beat");
      }
      // The store's expiry only decides when its orphan check looks at a hold; the ledger's is the one that counts.
      await Promise.all(ids.map((id) => this.store.renew(id, expiresAtMs).catch(() => false)));
    }
    return renewed;
  }

  /** One sweeper pass (also run every sweepIntervalMs). */
  sweep(): Promise<SweepReport> {
    return (this.sweeping ??= sweep({
      ledger: this.ledger,
      store: this.store,
      mirror: this.mirror,
      outbox: this.outbox,
      clock: this.clock,
      log: this.log,
      batch: 500,
      orphanGraceMs: this.deps.orphanGraceMs ?? 5_000,
      isRunning: (requestId) => this.running.has(requestId),
    }).finally(() => (this.sweeping = undefined)));
  }

  /** Compare the store with the ledger; with repair (default), resync drifted customers from the ledger. */
  reconcile(options: ReconcileOptions = {}): Promise<ReconcileReport> {
    return reconcile({ ledger: this.ledger, store: this.store, mirror: this.mirror, outbox: this.outbox }, options);
  }

  /** Rebuild the store from the ledger if it lost its mirror (start, Redis restart or flush). */
  ensureMirror(): Promise<void> {
    return this.mirror.ensure();
  }

  private async periodicReconcile(): Promise<void> {
    // Drift can be a request in flight; repair only drift seen unchanged (same ledger seq) twice.
    const signature = (d: Drift) => `${d.ledgerSeq}/${d.ledgerBalanceMicros}/${d.storeAvailableMicros}/${d.ledgerHeldMicros}/${d.storeHeldMicros}`;
    const previous = this.previousDrift;
    const report = await this.reconcile({ repair: true, repairable: (d) => previous.get(d.customerId) === signature(d) });
    this.previousDrift = new Map(report.drift.filter((d) => !report.repaired.includes(d.customerId)).map((d) => [d.customerId, signature(d)]));
    if (report.ledgerProblems.length > 0) this.log.error({ problems: report.ledgerProblems }, "ledger self-check failed");
    if (report.repaired.length > 0) this.log.warn({ repaired: report.repaired }, "balance store drift repaired from the ledger");
  }

  private async storeCall<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof StoreNotReadyError && attempt < 3) {
          try {
            await this.mirror.ensure();
          } catch (rebuildErr) {
            if (rebuildErr instanceof LedgerUnavailableError || rebuildErr instanceof StoreUnavailableError) throw billingUnavailable("the balance store is being rebuilt");
            throw rebuildErr;
          }
          continue;
        }
        if (err instanceof StoreNotReadyError) throw billingUnavailable("the balance store is being rebuilt");
        if (err instanceof StoreUnavailableError) throw billingUnavailable("the balance store is unreachable");
        throw err;
      }
    }
  }

  private async ledgerCall<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof LedgerUnavailableError) throw billingUnavailable("the billing ledger is unreachable");
      throw err;
    }
  }
}
