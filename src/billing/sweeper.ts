// The sweeper, run every sweepIntervalMs by the billing service (and directly by tests with a fake
// clock). In order: retry store updates that failed, record settlements from the outbox, expire holds
// past their TTL (a server died between reserve and post: a running request renews its hold, so only a
// dead server's holds get old), and clear store holds the ledger never saw.
import type { Clock } from "../core/clock";
import { LedgerUnavailableError } from "./ledger/ledger";
import type { BillingLogger } from "./logger";
import type { Outbox } from "./outbox";
import { recordSettlement, type SettleDeps } from "./settle";
import { StoreNotReadyError, StoreUnavailableError } from "./store/balance-store";

export interface SweepReport {
  /** Outbox settlements the ledger has now recorded. */
  intentsRecorded: number;
  /** Holds released because they outlived their TTL. */
  holdsExpired: number;
  /** Store holds released because the ledger never recorded them. */
  storeOrphansCancelled: number;
  /** Store holds brought in line with a ledger settlement they had missed. */
  storeHoldsRepaired: number;
  /** Store updates still waiting for the store. */
  appliesPending: number;
}

export interface SweepDeps extends SettleDeps {
  clock: Clock;
  outbox: Outbox;
  log: BillingLogger;
  batch: number;
  /** Store-only holds get this much longer than their TTL before they count as orphans. */
  orphanGraceMs: number;
  /** True for holds whose request is still running in this process: never expired, only renewed. */
  isRunning?: (requestId: string) => boolean;
}

function transient(err: unknown): boolean {
  return err instanceof LedgerUnavailableError || err instanceof StoreNotReadyError || err instanceof StoreUnavailableError;
}

export async function sweep(d: SweepDeps): Promise<SweepReport> {
  const report: SweepReport = { intentsRecorded: 0, holdsExpired: 0, storeOrphansCancelled: 0, storeHoldsRepaired: 0, appliesPending: 0 };
  try {
    await d.mirror.flush();
    for (const intent of await d.outbox.all()) {
      await recordSettlement(d, intent.requestId, intent.outcome, intent.capturedMicros, intent.atMs);
      await d.outbox.drop(intent.requestId);
      report.intentsRecorded++;
    }
    const nowMs = d.clock.wallMs();
    for (const hold of await d.ledger.expiredHolds(nowMs, d.batch)) {
      // A late heartbeat (event loop stalled past the TTL) must not make a running request free.
      if (d.isRunning?.(hold.requestId)) continue;
      // An outcome the ledger could not take earlier beats expiry: those frames were produced.
      const intent = await d.outbox.get(hold.requestId);
      const result = intent
        ? await recordSettlement(d, hold.requestId, intent.outcome, intent.capturedMicros, intent.atMs)
        : await recordSettlement(d, hold.requestId, "expired", 0, nowMs);
      if (intent) await d.outbox.drop(hold.requestId);
      if (result?.created && result.settlement.outcome === "expired") report.holdsExpired++;
    }
    for (const hold of await d.store.expiredHolds(nowMs - d.orphanGraceMs, d.batch)) {
      const status = await d.ledger.holdStatus(hold.requestId);
      if (status === null) {
        if ((await d.store.cancel(hold.requestId)).status === "applied") report.storeOrphansCancelled++;
      } else if (status.settlement !== null) {
        await d.mirror.settlement(status.settlement);
        report.storeHoldsRepaired++;
      }
      // Pending in the ledger too: the ledger's own expiry (same deadline) handles it above.
    }
  } catch (err) {
    if (!transient(err)) throw err;
    d.log.warn({ err: String(err) }, "sweep interrupted; will retry");
  }
  report.appliesPending = d.mirror.pendingApplies;
  return report;
}
