// Recording a hold's outcome: the ledger decides (first outcome wins by primary key), then the store
// mirrors what the ledger decided. Shared by post/void and by the sweeper.
import type { HoldOutcome, Ledger, Settlement } from "./ledger/ledger";
import type { Mirror } from "./mirror";
import type { BalanceStore } from "./store/balance-store";

export interface SettleDeps {
  ledger: Ledger;
  store: BalanceStore;
  mirror: Mirror;
}

/** Throws LedgerUnavailableError when the ledger cannot be reached (nothing recorded). null: no such hold. */
export async function recordSettlement(
  d: SettleDeps,
  requestId: string,
  outcome: HoldOutcome,
  capturedMicros: number,
  atMs: number,
): Promise<{ settlement: Settlement; created: boolean } | null> {
  const result = await d.ledger.settle({ requestId, outcome, capturedMicros, atMs });
  if (result === null) return null;
  // A repeat call mirrors only if the store still shows the hold pending (its earlier update was lost);
  // otherwise a very late duplicate could meet a forgotten record and apply twice.
  if (result.created || (await storePending(d.store, requestId))) await d.mirror.settlement(result.settlement);
  return result;
}

async function storePending(store: BalanceStore, requestId: string): Promise<boolean> {
  try {
    return (await store.hold(requestId))?.state === "pending";
  } catch {
    return false; // unreachable: the sweeper repairs pending store holds once they expire
  }
}
