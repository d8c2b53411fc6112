// The bounded per-model wait queue (FIFO). Bounded twice, by requests and by lanes, because a K=32
// request costs the GPU 32 times what a K=1 one does. A full queue refuses; it never grows past a bound.
import { assert } from "../core/assert";
import { limits } from "../core/limits";
import type { RequestState } from "./request-state";

export class RequestQueue {
  private items: RequestState[] = [];

  constructor(
    readonly requestsMax: number = limits.queueRequestsMax,
    readonly lanesMax: number = limits.queueLanesMax,
    readonly lanesPerCustomerMax: number = limits.queueLanesPerCustomerMax,
  ) {
    assert(Number.isSafeInteger(lanesPerCustomerMax) && lanesPerCustomerMax >= 1 && lanesPerCustomerMax <= limits.queueLanesPerCustomerMax, `queueLanesPerCustomerMax must be 1..${limits.queueLanesPerCustomerMax}`);
    assert(Number.isSafeInteger(requestsMax) && requestsMax >= 1 && requestsMax <= limits.queueRequestsMax, `queueRequestsMax must be 1..${limits.queueRequestsMax}`);
    assert(Number.isSafeInteger(lanesMax) && lanesMax >= 1 && lanesMax <= limits.queueLanesMax, `queueLanesMax must be 1..${limits.queueLanesMax}`);
  }

  get requests(): number {
    return this.items.length;
  }

  /** Live (not cancelled) lanes waiting. A queued request's lanes are all live unless partly cancelled. */
  get lanes(): number {
    return this.items.reduce((n, r) => n + r.liveLaneCount, 0);
  }

  /** Live lanes one customer has waiting. */
  lanesOf(customerId: string): number {
    return this.items.reduce((n, r) => n + (r.customerId === customerId ? r.liveLaneCount : 0), 0);
  }

  /** Whether a request of `lanes` lanes can join without breaking either bound. */
  fits(lanes: number): boolean {
    return this.items.length + 1 <= this.requestsMax && this.lanes + lanes <= this.lanesMax;
  }

  /** Whether `customerId` may queue `lanes` more lanes (fair share: one burst cannot fill the queue). */
  fitsCustomer(customerId: string, lanes: number): boolean {
    return this.lanesOf(customerId) + lanes <= this.lanesPerCustomerMax;
  }

  push(request: RequestState): void {
    assert(this.fits(request.liveLaneCount) && this.fitsCustomer(request.customerId, request.liveLaneCount), "queue bound exceeded: callers must check fits() first");
    assert(request.phase === "queued", "only queued requests enter the queue");
    this.items.push(request);
  }

  remove(request: RequestState): void {
    const i = this.items.indexOf(request);
    assert(i >= 0, `request ${request.requestId} is not queued`);
    this.items.splice(i, 1);
  }

  /** Oldest first. */
  list(): readonly RequestState[] {
    return this.items;
  }
}
