// Operator-typed dollar amounts → integer micro-USD, exactly (string arithmetic, never floats).
import { invalidArgument } from "../core/errors";

const USD = /^(\d{1,9})(?:\.(\d{1,6}))?$/;

export function parseUsdToMicros(field: string, text: string): number {
  const m = USD.exec(text.trim().replace(/^\$/, ""));
  if (!m) throw invalidArgument(field, `expected a dollar amount like 5 or 0.0245 (at most 6 decimals), got ${JSON.stringify(text)}`);
  return Number(m[1]) * 1_000_000 + Number((m[2] ?? "").padEnd(6, "0"));
}
