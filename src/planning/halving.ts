// Successive halving at chunk boundaries: after each chunk, the worst fraction of the live candidates
// (by cost so far) stops, so the engine's lanes go to the candidates still worth finishing and the
// caller pays only for frames generated. Opt-in: a candidate that starts badly and ends well is lost,
// which is the trade the caller chooses (the bench reports how often the best candidate survives).

export interface Halving {
  /** Fraction of the live candidates stopped at each boundary, in (0, 1). 0.5 halves. */
  dropFraction: number;
  /** Never fewer live candidates than this (>= 1). */
  keepMin: number;
}

/**
 * Which live candidates to stop now, given each one's cost so far (`live` maps candidate index to
 * cost). The worst go first; ties stop the later-submitted candidate; NaN counts as worst.
 */
export function pruneAtBoundary(live: ReadonlyMap<number, number>, h: Halving): number[] {
  const keep = Math.max(h.keepMin, Math.ceil(live.size * (1 - h.dropFraction)));
  if (keep >= live.size) return [];
  const key = (c: number): number => (Number.isNaN(c) ? Infinity : c);
  const order = [...live].sort(([ia, ca], [ib, cb]) => key(ca) - key(cb) || ia - ib);
  return order.slice(keep).map(([i]) => i).sort((a, b) => a - b);
}

/** Frames a halving schedule generates for K candidates over `chunks` chunks of `chunkFrames` (frame 0 extra). */
export function framesWithHalving(candidates: number, chunks: number, chunkFrames: number, h: Halving): number {
  let live = candidates;
  let frames = candidates; // the conditioning frame of every candidate
  for (let c = 0; c < chunks; c++) {
    frames += live * chunkFrames;
    if (c < chunks - 1) live = Math.min(live, Math.max(h.keepMin, Math.ceil(live * (1 - h.dropFraction))));
  }
  return frames;
}
