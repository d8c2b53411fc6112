// Keeps the balance store a faithful mirror of the ledger (docs/OPERATIONS.md "Source of truth").
// The ledger decides; the store follows:
//   - rebuild(): the whole store from a ledger snapshot taken while money movements wait;
//   - repair(): the same for a few customers (drift found by reconcile, or an inconsistent mirror);
//   - settlement(), credit(): apply one ledger change, tagged with its seqs so that a retry, or a
//     change the last rebuild already included, is never applied twice. If the store cannot take it
//     now, it is queued in memory and retried (after a rebuild, or by the sweeper).
import type { Clock } from "../core/clock";
import type { CustomerSnapshot, Ledger, Settlement } from "./ledger/ledger";
import type { BillingLogger } from "./logger";
import { StoreNotReadyError, StoreUnavailableError, type BalanceStore, type CustomerState } from "./store/balance-store";

const PENDING_APPLIES_MAX = 100_000;
const REBUILD_WAIT_MS = 30_000;

export function customerState(s: CustomerSnapshot): CustomerState {
  return { customerId: s.customerId, balanceMicros: s.balanceMicros, seq: s.seq, openHolds: s.openHolds.map((h) => ({ requestId: h.requestId, amountMicros: h.amountMicros, expiresAtMs: h.expiresAtMs })) };
}

function isStoreTransient(err: unknown): boolean {
  return err instanceof StoreNotReadyError || err instanceof StoreUnavailableError;
}

export class Mirror {
  /** Store updates that failed transiently, keyed so that a retry replaces rather than duplicates. */
  private readonly pending = new Map<string, () => Promise<void>>();
  private readonly repairQueue = new Set<string>();
  private rebuilding: Promise<void> | undefined;
  /** Set when pending applies overflowed: only a full rebuild can vouch for the store again. */
  private suspect = false;

  constructor(
    private readonly ledger: Ledger,
    private readonly store: BalanceStore,
    private readonly clock: Clock,
    private readonly log: BillingLogger,
  ) {}

  get pendingApplies(): number {
    return this.pending.size;
  }

  /** Rebuild unless the store is a complete mirror already. Concurrent callers share one rebuild. */
  ensure(): Promise<void> {
    return (this.rebuilding ??= this.ensureOnce().finally(() => (this.rebuilding = undefined)));
  }

  private async ensureOnce(): Promise<void> {
    if (!this.suspect && (await this.store.ready())) return;
    await this.rebuild();
  }

  private async rebuild(): Promise<void> {
    const startedMs = this.clock.wallMs();
    for (let attempt = 1; ; attempt++) {
      const token = await this.store.beginRebuild();
      if (token === null) {
        // Another process is rebuilding; wait for it (bounded), then check again. Its lock expires
        // if it died, and then this process takes over.
        if (await this.waitReady()) return;
        if (attempt >= 5) throw new StoreNotReadyError("balance store rebuild by another process did not finish");
        continue;
      }
      try {
        const customers = await this.ledger.withSnapshot(null, async (snapshot) => {
          const known = new Set(snapshot.map((s) => s.customerId));
          // Customers the store has but the ledger does not (a ledger restored from backup): zero them.
          const stale = (await this.store.customers()).filter((c) => !known.has(c)).map((c) => ({ customerId: c, balanceMicros: 0, seq: 0, openHolds: [] }));
          await this.store.resync([...snapshot.map(customerState), ...stale], token);
          return snapshot.length;
        });
        if (await this.store.finishRebuild(token)) {
          this.suspect = false;
          this.log.info({ customers, attempt, ms: this.clock.wallMs() - startedMs, store: this.store.kind }, "balance store rebuilt from the ledger");
          await this.flush();
          return;
        }
      } catch (err) {
        if (!(err instanceof StoreNotReadyError) || attempt >= 5) throw err;
      }
      this.log.warn({ attempt }, "balance store changed during rebuild; rebuilding again");
    }
  }

  private async waitReady(): Promise<boolean> {
    // Real time, not the injected clock: this is a bounded wait on another process, not business time.
    const deadline = Date.now() + REBUILD_WAIT_MS;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      if (await this.store.ready()) return true;
    }
    return false;
  }

  /** Overwrite these customers in the store from the ledger, while their money movements wait. */
  async repair(customerIds: string[]): Promise<void> {
    if (customerIds.length === 0) return;
    await this.ledger.withSnapshot(customerIds, async (snapshot) => {
      const found = new Set(snapshot.map((s) => s.customerId));
      const missing = customerIds.filter((c) => !found.has(c)).map((c) => ({ customerId: c, balanceMicros: 0, seq: 0, openHolds: [] }));
      await this.store.resync([...snapshot.map(customerState), ...missing]);
    });
    this.log.info({ customers: customerIds.length }, "balance store customers resynced from the ledger");
  }

  /** Ask for a repair at the next flush (a mirror call reported an inconsistency). */
  scheduleRepair(customerId: string): void {
    this.repairQueue.add(customerId);
  }

  async settlement(s: Settlement): Promise<void> {
    const apply = async (): Promise<void> => {
      const mirror = { customerId: s.customerId, heldMicros: s.heldMicros, holdSeq: s.holdSeq, settleSeq: s.settleSeq };
      const result =
        s.outcome === "posted" ? await this.store.post(s.requestId, s.capturedMicros, mirror) : s.outcome === "voided" ? await this.store.void(s.requestId, mirror) : await this.store.expire(s.requestId, mirror);
      if (result.status === "inconsistent") {
        this.log.warn({ requestId: s.requestId, customerId: s.customerId }, "balance store disagrees with the ledger about a hold; resyncing the customer");
        this.scheduleRepair(s.customerId);
      }
    };
    await this.attempt(`settle:${s.requestId}`, apply);
  }

  async credit(customerId: string, amountMicros: number, seq: number): Promise<void> {
    await this.attempt(`credit:${customerId}:${seq}`, async () => void (await this.store.credit(customerId, amountMicros, seq)));
  }

  private async attempt(key: string, apply: () => Promise<void>): Promise<void> {
    try {
      await apply();
      this.pending.delete(key);
    } catch (err) {
      if (!isStoreTransient(err)) throw err;
      if (this.pending.size >= PENDING_APPLIES_MAX && !this.pending.has(key)) {
        this.suspect = true; // dropped: the next ensure() rebuilds everything from the ledger
        this.log.error({ key }, "too many store updates pending; the store will be rebuilt from the ledger");
        return;
      }
      this.pending.set(key, apply);
      if (err instanceof StoreNotReadyError) void this.ensure().catch((e) => this.log.warn({ err: String(e) }, "balance store rebuild failed; will retry"));
    }
  }

  /** Retry queued store updates and scheduled repairs; stops at the first transient failure. */
  async flush(): Promise<void> {
    if (this.suspect) await this.ensure();
    for (const [key, apply] of [...this.pending]) {
      try {
        await apply();
        this.pending.delete(key);
      } catch (err) {
        if (!isStoreTransient(err)) throw err;
        return;
      }
    }
    if (this.repairQueue.size > 0) {
      const ids = [...this.repairQueue];
      this.repairQueue.clear();
      try {
        await this.repair(ids);
      } catch (err) {
        for (const id of ids) this.repairQueue.add(id);
        if (!isStoreTransient(err)) throw err;
      }
    }
  }
}
