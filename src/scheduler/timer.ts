// The scheduler sleeps only for one reason: a lone request waiting queueDelayUs for company. That sleep
// goes through this interface so tests can drive it with a FakeClock instead of real time.
import { assert } from "../core/assert";
import type { FakeClock } from "../core/clock";

export interface Timer {
  /** Call `fn` once, `delayUs` from now. Returns a function that cancels the call (idempotent). */
  after(delayUs: number, fn: () => void): () => void;
}

/** Real time: setTimeout has millisecond resolution, so round up (waking early would just re-plan a wait). */
export const realTimer: Timer = {
  after(delayUs: number, fn: () => void): () => void {
    const handle = setTimeout(fn, Math.ceil(delayUs / 1000));
    return () => clearTimeout(handle);
  },
};

interface Pending {
  id: number;
  dueUs: number;
  fn: () => void;
}

/** A timer that fires only when a test moves its FakeClock through it. */
export class ManualTimer implements Timer {
  private pending: Pending[] = [];
  private nextId = 0;

  constructor(private readonly clock: FakeClock) {}

  after(delayUs: number, fn: () => void): () => void {
    assert(Number.isFinite(delayUs) && delayUs >= 0, `timer delay must be a non-negative number, got ${delayUs}`);
    const id = this.nextId++;
    this.pending.push({ id, dueUs: this.clock.nowUs() + delayUs, fn });
    return () => {
      this.pending = this.pending.filter((p) => p.id !== id);
    };
  }

  /** Timers armed and not yet fired or cancelled. */
  get size(): number {
    return this.pending.length;
  }

  nextDueUs(): number | undefined {
    return this.pending.reduce<number | undefined>((min, p) => (min === undefined || p.dueUs < min ? p.dueUs : min), undefined);
  }

  /** Move the clock forward, firing every timer that falls due, in due order. */
  advanceUs(deltaUs: number): void {
    assert(deltaUs >= 0, "time only moves forward");
    const targetUs = this.clock.nowUs() + deltaUs;
    for (;;) {
      const due = this.nextDueUs();
      if (due === undefined || due > targetUs) break;
      if (due > this.clock.nowUs()) this.clock.advanceUs(due - this.clock.nowUs());
      this.fireDue();
    }
    this.clock.advanceUs(targetUs - this.clock.nowUs());
  }

  /** Fire every timer whose due time has been reached (callbacks may arm new ones). */
  fireDue(): void {
    const nowUs = this.clock.nowUs();
    const due = this.pending.filter((p) => p.dueUs <= nowUs).sort((a, b) => a.dueUs - b.dueUs || a.id - b.id);
    this.pending = this.pending.filter((p) => p.dueUs > nowUs);
    for (const p of due) p.fn();
  }
}
