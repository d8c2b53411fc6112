// In-memory TopupCreditor honouring the contract in src/billing/stripe/types.ts: idempotent per session
// (and per event id), atomic because the check and the insert happen in one synchronous step.
import type { TopupCreditor } from "../../src/billing/stripe";

export interface RecordedCredit {
  customerId: string;
  amountMicros: number;
  sessionId: string;
  eventId: string;
}

export class InMemoryTopupCreditor implements TopupCreditor {
  readonly credits: RecordedCredit[] = [];
  calls = 0;
  private readonly sessions = new Set<string>();
  private readonly events = new Set<string>();
  private failuresLeft = 0;

  /** The next `count` calls throw, as a ledger outage would. */
  failNext(count = 1): void {
    this.failuresLeft = count;
  }

  balanceMicros(customerId: string): number {
    return this.credits.filter((c) => c.customerId === customerId).reduce((sum, c) => sum + c.amountMicros, 0);
  }

  async creditTopup(customerId: string, amountMicros: number, sessionId: string, eventId: string): Promise<{ credited: boolean }> {
    this.calls++;
    await Promise.resolve(); // always asynchronous, like a database
    if (this.failuresLeft > 0) {
      this.failuresLeft--;
      throw new Error("ledger unavailable");
    }
    if (this.sessions.has(sessionId) || this.events.has(eventId)) return { credited: false };
    this.sessions.add(sessionId);
    this.events.add(eventId);
    this.credits.push({ customerId, amountMicros, sessionId, eventId });
    return { credited: true };
  }
}
