// Settlement off the response's critical path. A finished predict's post (frames actually generated;
// the rest of its hold refunded) used to be awaited before the response left: 2–3 ms of ledger work
// per request on the embedded PGlite ledger, on the same thread that sends. Settlement failures never
// failed a finished response anyway (the hold stays and is reconciled), so the response need not wait
// for it. What must not change is what a customer observes: every later billing call for the same
// customer — its next reserve, a balance or transactions read, a void, a top-up — first waits for that
// customer's settlements still in flight, so a client that reads its balance after a response sees the
// post, and a control loop's next reserve sees the refund. Other customers never wait. Shutdown
// flushes what is in flight before the ledger closes.
import type { Logger } from "../observability/logger";
import type { Account, BillingPort } from "../service/ports";

export interface SettleBehind extends BillingPort {
  /** Resolves once every post started so far has finished (shutdown, before closing the ledger). */
  flush(): Promise<void>;
  /** Posts in flight. */
  readonly pending: number;
}

export function settleBehind(port: BillingPort, logger: Logger): SettleBehind {
  /** Per customer, the last settlement started: later calls for that customer chain behind it. */
  const tails = new Map<string, Promise<void>>();
  let pending = 0;
  const after = async (account: Account): Promise<void> => {
    await tails.get(account.customerId);
  };
  return {
    authenticate: (rawKey) => port.authenticate(rawKey),
    async reserve(account, requestId, amountMicros) {
      await after(account);
      return port.reserve(account, requestId, amountMicros);
    },
    ...(port.reserveGated
      ? {
          async reserveGated(account: Account, requestId: string, amountMicros: number) {
            await after(account);
            return port.reserveGated!(account, requestId, amountMicros);
          },
        }
      : {}),
    post(account, requestId, actualMicros) {
      pending++;
      const previous = tails.get(account.customerId);
      const settle = async (): Promise<void> => {
        await previous;
        try {
          await port.post(account, requestId, actualMicros);
        } catch (err) {
          // As when it was awaited: the hold stays recorded and the billing sweeper reconciles it.
          logger.error({ requestId, err: String(err) }, "settlement failed; hold left for reconciliation");
        } finally {
          pending--;
          if (tails.get(account.customerId) === tail) tails.delete(account.customerId);
        }
      };
      const tail = settle();
      tails.set(account.customerId, tail);
      return Promise.resolve(); // started: the response goes out now
    },
    async void(account, requestId) {
      await after(account);
      return port.void(account, requestId);
    },
    async balance(account) {
      await after(account);
      return port.balance(account);
    },
    async transactions(account, limit) {
      await after(account);
      return port.transactions(account, limit);
    },
    async createTopup(account, amountUsd) {
      await after(account);
      return port.createTopup(account, amountUsd);
    },
    async flush() {
      await Promise.all([...tails.values()]);
    },
    get pending() {
      return pending;
    },
  };
}
