// Best-of-N: candidates ordered by cost, ties broken by submission order so a ranking is stable and
// reproducible. NaN (a scorer that failed for one lane) ranks last rather than poisoning the order.

/** Candidate indices, best (lowest cost) first. */
export function rankByCost(costs: ArrayLike<number>): number[] {
  const key = (i: number): number => (Number.isNaN(costs[i]!) ? Infinity : costs[i]!);
  return Array.from({ length: costs.length }, (_, i) => i).sort((a, b) => key(a) - key(b) || a - b);
}

/** The `count` best candidate indices. */
export const elites = (costs: ArrayLike<number>, count: number): number[] => rankByCost(costs).slice(0, count);
