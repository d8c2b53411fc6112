// Time is injected so that scheduling decisions and expiries are testable with a fake clock.

export interface Clock {
  /** Monotonic microseconds; only differences are meaningful. */
  nowUs(): number;
  /** Wall-clock milliseconds since the Unix epoch (for timestamps and TTLs shared across processes). */
  wallMs(): number;
}

export const systemClock: Clock = {
  nowUs: () => Number(process.hrtime.bigint() / 1000n),
  wallMs: () => Date.now(),
};

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  constructor(
    private us = 0,
    private wallStartMs = 1_700_000_000_000,
  ) {}
  nowUs(): number {
    return this.us;
  }
  wallMs(): number {
    return this.wallStartMs + Math.floor(this.us / 1000);
  }
  advanceUs(deltaUs: number): void {
    this.us += deltaUs;
  }
  advanceMs(deltaMs: number): void {
    this.us += deltaMs * 1000;
  }
}
