// A job's budget cap is checked before each row starts, against what is already charged plus the
// holds of rows still in flight (their final charge is not known yet, so their full price counts).
// Pure: the store calls it inside the claim transaction that holds the job's lock.

export interface BudgetState {
  /** 0 = no cap (the balance still bounds the job). */
  budgetMicros: number;
  /** Charged for rows that ended. */
  spentMicros: number;
  /** Prices (holds) of rows in flight. */
  inflightMicros: number;
}

/** Whether a row of `priceMicros` may start without the job possibly passing its cap. */
export function rowFitsBudget(state: BudgetState, priceMicros: number): boolean {
  if (state.budgetMicros === 0) return true;
  return state.spentMicros + state.inflightMicros + priceMicros <= state.budgetMicros;
}

/**
 * The job is out of budget when a row is waiting, none is in flight (whose actual charge could come in
 * under its hold and free room) and the next waiting row does not fit.
 */
export function budgetExhausted(state: BudgetState, nextPriceMicros: number | undefined, rowsInFlight: number): boolean {
  return nextPriceMicros !== undefined && rowsInFlight === 0 && !rowFitsBudget(state, nextPriceMicros);
}
