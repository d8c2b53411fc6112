// The loop's fair-share bookkeeping (plan.ts rule 3b): lane-chunks served per customer, per class,
// for the customers that have requests queued or running. A customer that becomes active starts at the
// least served active customer of its class, so time spent idle banks no credit, and one that leaves
// is forgotten (the tables hold only live customers).
import { assert } from "../core/assert";
import type { Priority } from "./request";

type PerClass<T> = Record<Priority, Map<string, T>>;

export class FairShare {
  private readonly servedBy: PerClass<number> = { interactive: new Map(), batch: new Map() };
  private readonly liveBy: PerClass<number> = { interactive: new Map(), batch: new Map() };

  /** What plan() reads: lane-chunks served, by class and customer. */
  get served(): Readonly<Record<Priority, ReadonlyMap<string, number>>> {
    return this.servedBy;
  }

  /** A request of `customerId` entered the scheduler. */
  activate(priority: Priority, customerId: string): void {
    const live = this.liveBy[priority];
    const count = live.get(customerId) ?? 0;
    live.set(customerId, count + 1);
    if (count > 0) return;
    const served = this.servedBy[priority];
    let least: number | undefined;
    for (const value of served.values()) least = least === undefined ? value : Math.min(least, value);
    served.set(customerId, least ?? 0);
  }

  /** A request of `customerId` ended. */
  deactivate(priority: Priority, customerId: string): void {
    const live = this.liveBy[priority];
    const count = live.get(customerId);
    assert(count !== undefined && count > 0, `fair share: customer ${customerId} has no live ${priority} request`);
    if (count > 1) {
      live.set(customerId, count - 1);
      return;
    }
    live.delete(customerId);
    this.servedBy[priority].delete(customerId);
  }

  /** `laneChunks` lanes of `customerId` stepped one chunk. */
  charge(priority: Priority, customerId: string, laneChunks: number): void {
    const served = this.servedBy[priority];
    served.set(customerId, (served.get(customerId) ?? 0) + laneChunks);
  }
}
