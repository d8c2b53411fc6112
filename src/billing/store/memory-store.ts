// In-process BalanceStore for embedded defaults (one server process). JavaScript runs each method's
// synchronous body to completion, so every check-and-update below is atomic without locks. It is
// rebuilt from the ledger at start, exactly like Redis after a flush.
import { randomUUID } from "node:crypto";
import { assert } from "../../core/assert";
import { SettleOps, type SettleOp } from "./settle-ops";
import type { Clock } from "../../core/clock";
import { assertMicros } from "../../core/money";
import {
  STORE_DEFAULTS,
  StoreNotReadyError,
  type BalanceStore,
  type CustomerState,
  type HoldState,
  type HoldView,
  type LedgerMirror,
  type ReserveResult,
  type SettleResult,
  type SettlementIntent,
} from "./balance-store";

interface Customer {
  availableMicros: number;
  heldMicros: number;
  /** Ledger seq included by the last resync of this customer. */
  snapSeq: number;
  pending: Set<string>;
}

interface Rec extends HoldView {
  /** When a settled record is forgotten. */
  forgetAtMs: number;
}

const STATE_OF: Record<SettleOp, HoldState> = { post: "posted", void: "voided", expire: "expired", cancel: "cancelled" };

export class MemoryBalanceStore extends SettleOps implements BalanceStore {
  readonly kind = "memory";
  private readonly customersById = new Map<string, Customer>();
  private readonly holds = new Map<string, Rec>();
  /** Settled records in settlement order, for pruning. */
  private readonly tombstones = new Map<string, number>();
  private readonly creditMarkers = new Map<string, number>();
  private readonly outbox = new Map<string, SettlementIntent>();
  private isReady = false;
  private rebuildToken: string | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly options = STORE_DEFAULTS,
  ) {
    super();
  }

  private requireReady(): void {
    if (!this.isReady) throw new StoreNotReadyError("in-process balance store not built from the ledger yet");
  }

  private customer(id: string): Customer {
    let c = this.customersById.get(id);
    if (!c) {
      c = { availableMicros: 0, heldMicros: 0, snapSeq: 0, pending: new Set() };
      this.customersById.set(id, c);
    }
    return c;
  }

  private view(r: Rec): HoldView {
    const { forgetAtMs: _, ...v } = r;
    return v;
  }

  private prune(nowMs: number): void {
    for (const [id, forgetAtMs] of this.tombstones) {
      if (forgetAtMs > nowMs) break; // insertion order = settlement order; same TTL for all
      this.tombstones.delete(id);
      if (this.holds.get(id)?.state !== "pending") this.holds.delete(id);
    }
    for (const [k, forgetAtMs] of this.creditMarkers) if (forgetAtMs <= nowMs) this.creditMarkers.delete(k);
  }

  async reserve(customerId: string, amountMicros: number, requestId: string, ttlMs: number): Promise<ReserveResult> {
    assertMicros(amountMicros);
    assert(amountMicros > 0 && ttlMs > 0, "reserve needs a positive amount and ttl");
    this.requireReady();
    const c = this.customer(customerId);
    const existing = this.holds.get(requestId);
    // A cancelled record means the ledger never took that attempt: the request id may reserve again.
    if (existing && existing.state !== "cancelled") return { status: "duplicate", availableMicros: c.availableMicros, hold: this.view(existing) };
    this.tombstones.delete(requestId);
    if (c.availableMicros < amountMicros) return { status: "insufficient", availableMicros: c.availableMicros };
    const expiresAtMs = this.clock.wallMs() + ttlMs;
    c.availableMicros -= amountMicros;
    c.heldMicros += amountMicros;
    c.pending.add(requestId);
    this.holds.set(requestId, { requestId, customerId, heldMicros: amountMicros, expiresAtMs, state: "pending", capturedMicros: 0, releasedMicros: 0, forgetAtMs: Infinity });
    return { status: "held", availableMicros: c.availableMicros, expiresAtMs };
  }

  async renew(requestId: string, expiresAtMs: number): Promise<boolean> {
    const r = this.holds.get(requestId);
    if (r?.state !== "pending") return false;
    r.expiresAtMs = Math.max(r.expiresAtMs, expiresAtMs);
    return true;
  }

  private settled(r: Rec, state: HoldState, capturedMicros: number): void {
    r.state = state;
    r.capturedMicros = capturedMicros;
    r.releasedMicros = r.heldMicros - capturedMicros;
    r.forgetAtMs = this.clock.wallMs() + this.options.tombstoneTtlMs;
    this.tombstones.delete(r.requestId);
    this.tombstones.set(r.requestId, r.forgetAtMs);
  }

  protected settle(op: SettleOp, requestId: string, actualMicros: number, mirror: LedgerMirror | undefined): SettleResult {
    this.requireReady();
    const r = this.holds.get(requestId);
    const capturedMicros = op === "post" ? actualMicros : 0;
    if (r?.state === "pending") {
      const c = this.customer(r.customerId);
      if (mirror) {
        if (mirror.settleSeq <= c.snapSeq) return { status: "inconsistent", hold: this.view(r) };
      } else if (op === "expire" && this.clock.wallMs() < r.expiresAtMs) {
        return { status: "not-expired", hold: this.view(r) };
      }
      assert(capturedMicros <= r.heldMicros, `cannot capture ${capturedMicros} micros from a hold of ${r.heldMicros}`);
      c.availableMicros += r.heldMicros - capturedMicros;
      c.heldMicros -= r.heldMicros;
      c.pending.delete(requestId);
      this.settled(r, STATE_OF[op], capturedMicros);
      return { status: "applied", hold: this.view(r) };
    }
    if (!mirror) return r ? { status: "already", hold: this.view(r) } : { status: "unknown", hold: null };
    if (r && r.state !== "cancelled") return { status: "already", hold: this.view(r) };
    // The ledger settled a hold whose debit this store does not carry (see OPERATIONS.md).
    const c = this.customer(mirror.customerId);
    if (mirror.settleSeq <= c.snapSeq) return { status: "already", hold: r ? this.view(r) : null };
    if (mirror.holdSeq <= c.snapSeq) return { status: "inconsistent", hold: r ? this.view(r) : null };
    assert(capturedMicros <= mirror.heldMicros, `cannot capture ${capturedMicros} micros from a hold of ${mirror.heldMicros}`);
    c.availableMicros -= capturedMicros;
    const rec: Rec = r ?? { requestId, customerId: mirror.customerId, heldMicros: mirror.heldMicros, expiresAtMs: 0, state: "pending", capturedMicros: 0, releasedMicros: 0, forgetAtMs: Infinity };
    this.holds.set(requestId, rec);
    this.settled(rec, STATE_OF[op], capturedMicros);
    return { status: "applied", hold: this.view(rec) };
  }

  async credit(customerId: string, amountMicros: number, seq?: number): Promise<{ applied: boolean; availableMicros: number }> {
    assertMicros(amountMicros);
    assert(amountMicros > 0, "a credit must be positive");
    this.requireReady();
    const c = this.customer(customerId);
    if (seq !== undefined) {
      const marker = `${customerId}\u0000${seq}`;
      if (seq <= c.snapSeq || this.creditMarkers.has(marker)) return { applied: false, availableMicros: c.availableMicros };
      this.creditMarkers.set(marker, this.clock.wallMs() + this.options.creditMarkerTtlMs);
    }
    c.availableMicros += amountMicros;
    return { applied: true, availableMicros: c.availableMicros };
  }

  async balance(customerId: string): Promise<{ availableMicros: number; heldMicros: number }> {
    this.requireReady();
    const c = this.customersById.get(customerId);
    return { availableMicros: c?.availableMicros ?? 0, heldMicros: c?.heldMicros ?? 0 };
  }

  async hold(requestId: string): Promise<HoldView | null> {
    const r = this.holds.get(requestId);
    return r ? this.view(r) : null;
  }

  async expiredHolds(nowMs: number, limit: number): Promise<HoldView[]> {
    this.prune(nowMs);
    const out: HoldView[] = [];
    for (const c of this.customersById.values()) {
      for (const id of c.pending) {
        const r = this.holds.get(id)!;
        if (r.expiresAtMs <= nowMs) out.push(this.view(r));
      }
    }
    out.sort((a, b) => a.expiresAtMs - b.expiresAtMs || (a.requestId < b.requestId ? -1 : 1));
    return out.slice(0, limit);
  }

  async customers(): Promise<string[]> {
    return [...this.customersById.keys()];
  }

  async ready(): Promise<boolean> {
    return this.isReady;
  }

  async beginRebuild(): Promise<string | null> {
    if (this.rebuildToken !== undefined) return null;
    this.rebuildToken = randomUUID();
    this.isReady = false;
    return this.rebuildToken;
  }

  async resync(states: CustomerState[], token?: string): Promise<void> {
    if (token === undefined) this.requireReady();
    else assert(token === this.rebuildToken, "resync with a stale rebuild token");
    for (const s of states) {
      const c = this.customer(s.customerId);
      const open = new Set(s.openHolds.map((h) => h.requestId));
      for (const id of c.pending) if (!open.has(id)) this.holds.delete(id); // its debit goes with it
      c.pending = new Set();
      c.heldMicros = 0;
      for (const h of s.openHolds) {
        this.holds.set(h.requestId, { requestId: h.requestId, customerId: s.customerId, heldMicros: h.amountMicros, expiresAtMs: h.expiresAtMs, state: "pending", capturedMicros: 0, releasedMicros: 0, forgetAtMs: Infinity });
        this.tombstones.delete(h.requestId);
        c.pending.add(h.requestId);
        c.heldMicros += h.amountMicros;
      }
      c.availableMicros = s.balanceMicros;
      c.snapSeq = s.seq;
    }
  }

  async finishRebuild(token: string): Promise<boolean> {
    if (token !== this.rebuildToken) return false;
    this.rebuildToken = undefined;
    this.isReady = true;
    return true;
  }

  /** What a process restart does to this store: everything gone, not ready until rebuilt. */
  forget(): void {
    this.customersById.clear();
    this.holds.clear();
    this.tombstones.clear();
    this.creditMarkers.clear();
    this.isReady = false;
    this.rebuildToken = undefined;
  }

  onLost(): void {
    // Process memory is lost only with the process, and the next start rebuilds.
  }

  async queueIntent(intent: SettlementIntent): Promise<void> {
    this.outbox.set(intent.requestId, intent);
  }

  async intents(): Promise<SettlementIntent[]> {
    return [...this.outbox.values()];
  }

  async intent(requestId: string): Promise<SettlementIntent | null> {
    return this.outbox.get(requestId) ?? null;
  }

  async dropIntent(requestId: string): Promise<void> {
    this.outbox.delete(requestId);
  }

  async close(): Promise<void> {}
}
