// The fuzz loop: lanes of sequential cases (each lane its own customer, so a balance change can be
// pinned on one case), a canary on the same connection every few cases, and a tally of answers.
import type { App } from "../../src/app/app";
import { sleep } from "../e2e/harness";
import { answerViolation } from "./properties";
import type { Answer } from "./send";

export interface Violation {
  lane: string;
  index: number;
  kind: string;
  what: string;
}

export interface Tally {
  cases: number;
  byStatus: Record<string, number>;
  successes: number;
  /** Successful cases per surface and method: shows that well-formed cases still reach the engine. */
  successesByMethod: Record<string, number>;
  canaries: number;
  violations: Violation[];
}

/** What the loop needs of a case: a name for reports, and whether it set its own deadline. */
export interface FuzzCase {
  kind: string;
  deadlineSet?: boolean;
}

export interface Lane<C extends FuzzCase> {
  name: string;
  customerId: string;
  next(): C;
  send(c: C): Promise<Answer>;
  /** A healthy call on the same connection; resolves to a failure message or undefined. */
  canary(): Promise<string | undefined>;
}

const SETTLE_WAIT_MS = 3000;

export async function runLane<C extends FuzzCase>(app: App, lane: Lane<C>, count: number, canaryEvery: number, tally: Tally): Promise<void> {
  const violation = (index: number, kind: string, what: string) => tally.violations.push({ lane: lane.name, index, kind, what });
  for (let i = 0; i < count; i++) {
    const c = lane.next();
    const before = await balanceMicros(app, lane.customerId);
    const answer = await lane.send(c);
    tally.cases++;
    const key = answer.reason ? `${answer.status} ${answer.reason}` : answer.status;
    tally.byStatus[key] = (tally.byStatus[key] ?? 0) + 1;
    const bad = answerViolation(answer, c.deadlineSet);
    if (bad) violation(i, c.kind, bad);
    if (answer.ok) {
      tally.successes++;
      const method = c.kind.split(" ").slice(0, 3).join(" ");
      tally.successesByMethod[method] = (tally.successesByMethod[method] ?? 0) + 1;
      await settled(app, lane.customerId);
    } else if (!(await returnsTo(app, lane.customerId, before))) {
      violation(i, c.kind, `balance changed by ${(await balanceMicros(app, lane.customerId)) - before} µUSD on a ${answer.status} (${answer.reason})`);
    }
    if (i % canaryEvery === canaryEvery - 1) {
      tally.canaries++;
      const failed = await lane.canary();
      if (failed) violation(i, "canary after " + c.kind, failed);
    }
  }
}

export const balanceMicros = async (app: App, customerId: string): Promise<number> => {
  await app.settled(); // charges post behind their responses
  return (await app.billing.balance(customerId)).balanceMicros;
};

/** A failed call must leave the balance where it was; a hold it took may take a moment to void. */
async function returnsTo(app: App, customerId: string, before: number): Promise<boolean> {
  const until = Date.now() + SETTLE_WAIT_MS;
  while (Date.now() < until) {
    if ((await balanceMicros(app, customerId)) === before) return true;
    await sleep(20);
  }
  return (await balanceMicros(app, customerId)) === before;
}

/** After a success: wait until the balance stops moving (the post and its refund are recorded). */
async function settled(app: App, customerId: string): Promise<void> {
  let last = await balanceMicros(app, customerId);
  for (let same = 0, n = 0; same < 3 && n < 100; n++) {
    await sleep(10);
    const now = await balanceMicros(app, customerId);
    same = now === last ? same + 1 : 0;
    last = now;
  }
}

export function newTally(): Tally {
  return { cases: 0, byStatus: {}, successes: 0, successesByMethod: {}, canaries: 0, violations: [] };
}
