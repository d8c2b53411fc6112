// Compares the balance store with the ledger, customer by customer, and optionally repairs drift by
// resyncing those customers from the ledger (always safe: the ledger is the source of truth and the
// resync runs while the customers' money movements wait). Also runs the ledger's own checks.
import type { Ledger } from "./ledger/ledger";
import type { Mirror } from "./mirror";
import type { Outbox } from "./outbox";
import type { BalanceStore } from "./store/balance-store";

export interface Drift {
  customerId: string;
  ledgerBalanceMicros: number;
  storeAvailableMicros: number;
  ledgerHeldMicros: number;
  storeHeldMicros: number;
  ledgerSeq: number;
}

export interface ReconcileReport {
  /** No ledger problems, and every drift found was repaired. */
  ok: boolean;
  storeKind: string;
  storeReady: boolean;
  customersChecked: number;
  ledgerProblems: string[];
  drift: Drift[];
  repaired: string[];
  /** Settlements waiting for the ledger (it was unreachable). */
  outboxPending: number;
}

export interface ReconcileDeps {
  ledger: Ledger;
  store: BalanceStore;
  mirror: Mirror;
  outbox: Outbox;
}

export interface ReconcileOptions {
  /** Repair drift (default true). */
  repair?: boolean;
  /** Restrict repairs to drift this predicate accepts (the periodic pass repairs only stable drift). */
  repairable?: (d: Drift) => boolean;
}

export async function reconcile(d: ReconcileDeps, options: ReconcileOptions = {}): Promise<ReconcileReport> {
  const repair = options.repair ?? true;
  const ledgerProblems = await d.ledger.verify();
  let storeReady = await d.store.ready().catch(() => false);
  if (!storeReady && repair) {
    await d.mirror.ensure();
    storeReady = await d.store.ready();
  }
  const outboxPending = (await d.outbox.all()).length;
  const base = { storeKind: d.store.kind, ledgerProblems, outboxPending };
  if (!storeReady) return { ...base, ok: false, storeReady, customersChecked: 0, drift: [], repaired: [] };

  const snapshot = await d.ledger.withSnapshot(null, async (s) => s);
  const byId = new Map(snapshot.map((s) => [s.customerId, s]));
  const ids = [...new Set([...byId.keys(), ...(await d.store.customers())])].sort();
  const drift: Drift[] = [];
  for (const customerId of ids) {
    const l = byId.get(customerId);
    const ledgerBalanceMicros = l?.balanceMicros ?? 0;
    const ledgerHeldMicros = (l?.openHolds ?? []).reduce((sum, h) => sum + h.amountMicros, 0);
    const s = await d.store.balance(customerId);
    if (s.availableMicros !== ledgerBalanceMicros || s.heldMicros !== ledgerHeldMicros) {
      drift.push({ customerId, ledgerBalanceMicros, storeAvailableMicros: s.availableMicros, ledgerHeldMicros, storeHeldMicros: s.heldMicros, ledgerSeq: l?.seq ?? 0 });
    }
  }
  const repaired = repair ? drift.filter(options.repairable ?? (() => true)).map((x) => x.customerId) : [];
  await d.mirror.repair(repaired);
  return { ...base, ok: ledgerProblems.length === 0 && repaired.length === drift.length, storeReady, customersChecked: ids.length, drift, repaired };
}
