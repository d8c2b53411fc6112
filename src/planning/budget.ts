// What a plan may spend: a frame cap (or a USD cap turned into one) bounds the worst case reserved up
// front, and an anytime time budget bounds how long it runs. Both are decisions on numbers only, so
// they are tested with a fake clock; the service applies them.

export interface IterationCost {
  candidates: number; // K per iteration
  framesPerCandidate: number; // T + 1
}

/** Worst-case frames of `iterations` full iterations. */
export const worstCaseFrames = (c: IterationCost, iterations: number): number => iterations * c.candidates * c.framesPerCandidate;

/**
 * How many full iterations a frame cap allows (at least 0); undefined cap = `iterationsMax`. A cap that
 * does not cover one iteration is the caller's error, reported by validation, not silently zero.
 */
export function iterationsWithin(c: IterationCost, iterationsMax: number, framesCap: number | undefined): number {
  if (framesCap === undefined) return iterationsMax;
  return Math.min(iterationsMax, Math.floor(framesCap / (c.candidates * c.framesPerCandidate)));
}

/** A USD cap as a frame cap at `pricePerFrameMicros` (rounded down: never over the cap). */
export const framesForMicros = (capMicros: number, pricePerFrameMicros: number): number => Math.floor(capMicros / pricePerFrameMicros);

/**
 * Anytime planning: whether to start another iteration. The first always runs (a plan needs one);
 * after that, only if the remaining budget covers the slowest iteration seen so far, so the plan
 * returns on time instead of overrunning by most of an iteration.
 */
export function startAnotherIteration(nowUs: number, budgetEndUs: number | undefined, completed: number, iterationUsMax: number): boolean {
  if (completed === 0 || budgetEndUs === undefined) return true;
  return nowUs + iterationUsMax <= budgetEndUs;
}
