// Real backends come from DATABASE_URL / REDIS_URL. When a variable is set its server must answer (an
// unreachable server fails the suite); when unset the suite shows one pending test saying why.
import { randomBytes } from "node:crypto";

export const DATABASE_URL = process.env.DATABASE_URL || undefined;
export const REDIS_URL = process.env.REDIS_URL || undefined;

/** Lower-case, unique per run and per call: schemas and Redis key prefixes never collide across runs. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(5).toString("hex")}`;
}

export function describeWithEnv(variable: string, value: string | undefined, title: string, body: (value: string) => void): void {
  describe(title, function () {
    if (value === undefined) {
      it(`SKIPPED: ${variable} is not set, so this real-backend suite does not run (CI sets it)`);
      return;
    }
    body(value);
  });
}
