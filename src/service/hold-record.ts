// Whether an admitted request's durable pre-debit is in the ledger yet. The balance gate has already
// held the amount when a request is admitted (402 came before any engine work); with
// BillingPort.reserveGated the ledger's record is written while the engine starts, and this is how the
// predict flow knows when it may deliver a chunk or settle: never before the record, and never at all
// when the ledger refused it.

import type { Account, BillingPort } from "./ports";

export type HoldRecordState = "pending" | "recorded" | "refused";

/** The balance gate, and the ledger's record behind it when the port can split them (reserveGated). */
export async function holdFor(billing: BillingPort, account: Account, requestId: string, amountMicros: number): Promise<HoldRecord> {
  if (billing.reserveGated === undefined) {
    await billing.reserve(account, requestId, amountMicros);
    return HoldRecord.recorded();
  }
  const { recorded } = await billing.reserveGated(account, requestId, amountMicros);
  return new HoldRecord(recorded);
}

export class HoldRecord {
  private _state: HoldRecordState;
  private _refusal: unknown;
  private readonly listeners: Array<() => void> = [];
  /** Settles (never rejects) once the state is no longer pending. */
  readonly known: Promise<void>;

  /** A record already written (reserve was awaited). */
  static recorded(): HoldRecord {
    return new HoldRecord(undefined);
  }

  constructor(recorded: Promise<void> | undefined) {
    if (recorded === undefined) {
      this._state = "recorded";
      this.known = Promise.resolve();
      return;
    }
    this._state = "pending";
    this.known = recorded.then(
      () => this.settle("recorded", undefined),
      (err: unknown) => this.settle("refused", err),
    );
  }

  get state(): HoldRecordState {
    return this._state;
  }

  /** A method, not a narrowing comparison: the state moves on while a caller awaits. */
  isRefused(): boolean {
    return this._state === "refused";
  }

  /** What the ledger refused with (a ServiceError, as reserve would have thrown), once refused. */
  get refusal(): unknown {
    return this._refusal;
  }

  /**
   * Calls `fn` once the state is known, synchronously with the change (so a caller buffering chunks
   * while pending can drain them before any later chunk is handed over), or at once if it is known.
   */
  whenKnown(fn: () => void): void {
    if (this._state !== "pending") fn();
    else this.listeners.push(fn);
  }

  private settle(state: Exclude<HoldRecordState, "pending">, refusal: unknown): void {
    this._state = state;
    this._refusal = refusal;
    for (const fn of this.listeners.splice(0)) fn();
  }
}
