// Admission for plan(): which queued requests take lanes at this boundary (EASY backfilling within a
// capacity, plan.ts rule 3) and in what order customers are considered (fair share, rule 3b).
import { assert } from "../core/assert";

export interface LaneHolder {
  candidates: readonly number[];
  chunkCount: number;
  nextChunk: number;
}

export interface Admissible {
  requestId: string;
  candidates: readonly number[];
  chunkCount: number;
  customerId?: string;
  readySeq: number;
}

interface Holder {
  lanes: number;
  chunksLeft: number;
}

interface Reservation {
  /** Chunks until enough lanes are free for the blocked head. */
  shadowChunks: number;
  /** Lanes free at that point beyond what the head needs: long backfills may use these. */
  extraLanes: number;
}

/** Nothing may overtake a head that cannot fit this capacity at all (interactive work holds the rest). */
const BLOCKED: Reservation = { shadowChunks: 0, extraLanes: 0 };

export function laneCount(views: readonly { candidates: readonly number[] }[]): number {
  return views.reduce((n, v) => n + v.candidates.length, 0);
}

function reserve(needLanes: number, freeLanes: number, capacity: number, holders: Holder[]): Reservation {
  if (needLanes > capacity) return BLOCKED;
  const sorted = [...holders].sort((a, b) => a.chunksLeft - b.chunksLeft);
  let available = freeLanes;
  for (let i = 0; i < sorted.length; i++) {
    available += sorted[i]!.lanes;
    const sameBoundary = i + 1 < sorted.length && sorted[i + 1]!.chunksLeft === sorted[i]!.chunksLeft;
    if (available >= needLanes && !sameBoundary) return { shadowChunks: sorted[i]!.chunksLeft, extraLanes: available - needLanes };
  }
  assert(false, `a ${needLanes}-lane request cannot fit ${capacity} lanes although it is no larger`);
}

/**
 * Rule 3: requests admitted whole, in `queued` order, into `capacity` lanes of which `holding` hold some;
 * when one does not fit (the head), later ones may overtake it only if that cannot delay it.
 */
export function admit<Q extends Admissible>(holding: readonly LaneHolder[], queued: readonly Q[], capacity: number, batchLanesMax: number): Q[] {
  let freeLanes = capacity - laneCount(holding);
  assert(freeLanes >= 0, `lanes in play exceed the capacity ${capacity}`);
  const holders: Holder[] = holding.map((r) => ({ lanes: r.candidates.length, chunksLeft: r.chunkCount - r.nextChunk }));
  const admitted: Q[] = [];
  let head: Reservation | undefined;
  for (const q of queued) {
    const lanes = q.candidates.length;
    assert(lanes >= 1 && lanes <= batchLanesMax, `queued request ${q.requestId} has ${lanes} lanes, outside 1..${batchLanesMax}`);
    if (head === undefined) {
      if (lanes <= freeLanes) {
        admitted.push(q);
        freeLanes -= lanes;
        holders.push({ lanes, chunksLeft: q.chunkCount });
      } else {
        head = reserve(lanes, freeLanes, capacity, holders);
      }
      continue;
    }
    if (lanes > freeLanes) continue;
    const doneBeforeHead = q.chunkCount <= head.shadowChunks;
    if (!doneBeforeHead && lanes > head.extraLanes) continue;
    admitted.push(q);
    freeLanes -= lanes;
    if (!doneBeforeHead) head.extraLanes -= lanes;
  }
  return admitted;
}

/**
 * Rule 3b, fair share: the order in which admission considers one class's queued requests. Customers
 * take turns by lane-chunks served: the customer with the fewest (`served`, plus what this order has
 * already given it: a request costs lanes × chunks) goes next, its oldest request first; ties go to the
 * request waiting longest. A lone customer's order is plain FIFO. (Weighted fair queueing with
 * per-request finish tags; the loop keeps `served` and starts a newly active customer at the least
 * served active one, so idle time banks no credit.)
 */
export function fairOrder<Q extends Admissible>(queued: readonly Q[], served: ReadonlyMap<string, number> | undefined): Q[] {
  const byCustomer = new Map<string, Q[]>();
  for (const q of queued) {
    const key = q.customerId ?? "";
    const list = byCustomer.get(key);
    if (list) list.push(q);
    else byCustomer.set(key, [q]);
  }
  if (byCustomer.size <= 1) return [...queued];
  const turns = [...byCustomer].map(([customer, list]) => ({ list, next: 0, virtual: served?.get(customer) ?? 0 }));
  const order: Q[] = [];
  while (order.length < queued.length) {
    let best: (typeof turns)[number] | undefined;
    for (const t of turns) {
      if (t.next >= t.list.length) continue;
      if (best === undefined || t.virtual < best.virtual || (t.virtual === best.virtual && t.list[t.next]!.readySeq < best.list[best.next]!.readySeq)) best = t;
    }
    const q = best!.list[best!.next++]!;
    best!.virtual += q.candidates.length * q.chunkCount;
    order.push(q);
  }
  return order;
}
