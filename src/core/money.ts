// Money is integer micro-USD everywhere (1 frame = 500 micros). Views in mils, cents and USD are
// derived only at the edges. See docs/API.md "Domain numbers" (money decision).
import { assert } from "./assert";

export const MICROS_PER_USD = 1_000_000;
export const MICROS_PER_CENT = 10_000;
export const MICROS_PER_MIL = 100;

export function assertMicros(micros: number): void {
  assert(Number.isSafeInteger(micros), `money must be an integer number of micros, got ${micros}`);
}

/** Display cents: half-up (half away from zero for negatives). */
export function microsToCentsRounded(micros: number): number {
  assertMicros(micros);
  const sign = micros < 0 ? -1 : 1;
  const abs = Math.abs(micros);
  return sign * Math.floor((abs + MICROS_PER_CENT / 2) / MICROS_PER_CENT);
}

/** Requested amounts are reported rounded up, so a 402 never understates what is needed. */
export function microsToCentsCeil(micros: number): number {
  assertMicros(micros);
  return Math.ceil(micros / MICROS_PER_CENT);
}

export function microsToMilsFloor(micros: number): number {
  assertMicros(micros);
  return Math.floor(micros / MICROS_PER_MIL);
}

/** Exact decimal string: 24500 → "0.0245", -500 → "-0.0005", 5_000_000 → "5". */
export function microsToUsdString(micros: number): string {
  assertMicros(micros);
  const sign = micros < 0 ? "-" : "";
  const abs = Math.abs(micros);
  const whole = Math.floor(abs / MICROS_PER_USD);
  const frac = String(abs % MICROS_PER_USD).padStart(6, "0").replace(/0+$/, "");
  return frac.length > 0 ? `${sign}${whole}.${frac}` : `${sign}${whole}`;
}

export function microsToUsd(micros: number): number {
  assertMicros(micros);
  return micros / MICROS_PER_USD;
}

/** USD (as users type it, e.g. 25.0) to micros; rejects more precision than a micro. */
export function usdToMicros(usd: number): number {
  const micros = Math.round(usd * MICROS_PER_USD);
  assert(Number.isFinite(usd), "usd must be finite");
  return micros;
}

/** The price of a predict: every generated frame of every candidate. */
export function rolloutPriceMicros(candidates: number, framesPerCandidate: number, pricePerFrameMicros: number): number {
  assert(Number.isSafeInteger(candidates) && candidates >= 0, "candidates must be a non-negative integer");
  assert(Number.isSafeInteger(framesPerCandidate) && framesPerCandidate >= 0, "frames must be a non-negative integer");
  assertMicros(pricePerFrameMicros);
  const total = candidates * framesPerCandidate * pricePerFrameMicros;
  assertMicros(total);
  return total;
}
