// The four ways a hold ends, shared by every BalanceStore: each backend implements only `settle`.
import { assert } from "../../core/assert";
import { assertMicros } from "../../core/money";
import type { LedgerMirror, SettleResult } from "./balance-store";

export type SettleOp = "post" | "void" | "expire" | "cancel";

export abstract class SettleOps {
  /** Applies one outcome to a hold, exactly once (a second call reports the first outcome). */
  protected abstract settle(op: SettleOp, requestId: string, actualMicros: number, mirror: LedgerMirror | undefined): SettleResult | Promise<SettleResult>;

  async post(requestId: string, actualMicros: number, mirror?: LedgerMirror): Promise<SettleResult> {
    assertMicros(actualMicros);
    assert(actualMicros >= 0, "captured must not be negative");
    return this.settle("post", requestId, actualMicros, mirror);
  }

  async void(requestId: string, mirror?: LedgerMirror): Promise<SettleResult> {
    return this.settle("void", requestId, 0, mirror);
  }

  async expire(requestId: string, mirror?: LedgerMirror): Promise<SettleResult> {
    return this.settle("expire", requestId, 0, mirror);
  }

  async cancel(requestId: string): Promise<SettleResult> {
    return this.settle("cancel", requestId, 0, undefined);
  }
}
