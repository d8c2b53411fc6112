// Settlements the ledger could not record yet (it was unreachable when a request finished). They are
// kept in the balance store, which other servers can see, so any server's sweeper records them even if
// this process dies; if the store is unreachable too, they stay in this process until it is back.
import type { BillingLogger } from "./logger";
import type { BalanceStore, SettlementIntent } from "./store/balance-store";

export class Outbox {
  private readonly local = new Map<string, SettlementIntent>();

  constructor(
    private readonly store: BalanceStore,
    private readonly log: BillingLogger,
  ) {}

  async queue(intent: SettlementIntent): Promise<void> {
    try {
      await this.store.queueIntent(intent);
    } catch (err) {
      this.local.set(intent.requestId, intent);
      this.log.error({ requestId: intent.requestId, err: String(err) }, "ledger and balance store both unreachable; settlement kept in memory until one is back");
    }
  }

  async all(): Promise<SettlementIntent[]> {
    const shared = await this.store.intents().catch(() => [] as SettlementIntent[]);
    const byId = new Map(shared.map((i) => [i.requestId, i]));
    for (const [id, i] of this.local) byId.set(id, i);
    return [...byId.values()];
  }

  async get(requestId: string): Promise<SettlementIntent | null> {
    return this.local.get(requestId) ?? (await this.store.intent(requestId).catch(() => null));
  }

  async drop(requestId: string): Promise<void> {
    this.local.delete(requestId);
    await this.store.dropIntent(requestId).catch(() => undefined);
  }

  get localCount(): number {
    return this.local.size;
  }
}
