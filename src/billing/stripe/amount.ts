// The top-up amount as users type it (25, 19.99) → integer cents and micros, or INVALID_ARGUMENT.
import { invalidArgument } from "../../core/errors";
import { limits } from "../../core/limits";
import { MICROS_PER_CENT } from "../../core/money";

export interface TopupAmount {
  amountCents: number;
  amountMicros: number;
  amountUsd: number;
}

const centsMin = limits.topupUsdMin * 100;
const centsMax = limits.topupUsdMax * 100;

export function topupAmount(amountUsd: unknown): TopupAmount {
  const given = typeof amountUsd === "number" ? String(amountUsd) : JSON.stringify(amountUsd) ?? String(amountUsd);
  const details = { expected: `${limits.topupUsdMin}..${limits.topupUsdMax} USD in whole cents`, given };
  if (typeof amountUsd !== "number" || !Number.isFinite(amountUsd)) {
    throw invalidArgument("amount_usd", `expected a number of USD between ${limits.topupUsdMin} and ${limits.topupUsdMax}, got ${given}`, details);
  }
  const amountCents = Math.round(amountUsd * 100);
  // Binary floats make 19.99 * 100 = 1998.9999999999998; anything this close to a whole cent is one.
  if (Math.abs(amountUsd * 100 - amountCents) > 1e-6) {
    throw invalidArgument("amount_usd", `expected at most 2 decimal places (whole cents), got ${given}`, details);
  }
  if (amountCents < centsMin || amountCents > centsMax) {
    throw invalidArgument("amount_usd", `expected between ${limits.topupUsdMin} and ${limits.topupUsdMax} USD, got ${given}`, details);
  }
  return { amountCents, amountMicros: amountCents * MICROS_PER_CENT, amountUsd: amountCents / 100 };
}
