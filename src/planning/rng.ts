// A seeded random source for planners: the same request (same seed) samples the same candidates, on
// any machine, so a plan can be reproduced and a test can pin it. Math.random cannot be seeded.
//
// PCG32 (O'Neill, pcg-random.org: XSH-RR output of a 64-bit LCG) in BigInt-free 32-bit halves, and
// normals by Box-Muller, caching the second value. Not cryptographic; it needs to be fast and stable.

const MUL_HI = 0x5851f42d;
const MUL_LO = 0x4c957f2d;

export class Pcg32 {
  private hi = 0;
  private lo = 0;
  private readonly incHi: number;
  private readonly incLo: number;
  private spare: number | undefined;

  /** `seed` and `stream` are unsigned 32-bit integers; distinct streams give independent sequences. */
  constructor(seed: number, stream = 0) {
    // inc must be odd: (stream << 1) | 1, as 64 bits.
    this.incHi = (stream >>> 31) & 1;
    this.incLo = ((stream << 1) | 1) >>> 0;
    this.step();
    this.addToState(0, seed >>> 0);
    this.step();
  }

  /** Uniform unsigned 32-bit integer. */
  nextU32(): number {
    const hi = this.hi;
    const lo = this.lo;
    this.step();
    // xorshifted = ((state >> 18) ^ state) >> 27, truncated to 32 bits; rot = state >> 59.
    const xHi = (hi ^ (hi >>> 18)) >>> 0;
    const xLo = (lo ^ ((lo >>> 18) | (hi << 14))) >>> 0;
    const xorshifted = ((xLo >>> 27) | (xHi << 5)) >>> 0;
    const rot = hi >>> 27;
    return ((xorshifted >>> rot) | (xorshifted << ((32 - rot) & 31))) >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextU32() / 4294967296;
  }

  /** Standard normal (mean 0, sd 1). */
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const u = 1 - this.uniform(); // (0, 1]: log(0) never happens
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** state = state * MUL + inc (mod 2^64), on 32-bit halves. */
  private step(): void {
    const lo = this.lo;
    const hi = this.hi;
    // 64-bit product of (hi, lo) and (MUL_HI, MUL_LO), low 64 bits: lo*MUL_LO (full) + (hi*MUL_LO + lo*MUL_HI) << 32.
    const loProduct = mul32Full(lo, MUL_LO);
    const cross = (Math.imul(hi, MUL_LO) + Math.imul(lo, MUL_HI)) >>> 0;
    this.lo = loProduct.lo;
    this.hi = (loProduct.hi + cross) >>> 0;
    this.addToState(this.incHi, this.incLo);
  }

  private addToState(hi: number, lo: number): void {
    const sum = this.lo + lo;
    this.lo = sum >>> 0;
    this.hi = (this.hi + hi + (sum > 0xffffffff ? 1 : 0)) >>> 0;
  }
}

/** The full 64-bit product of two unsigned 32-bit integers, as halves. */
function mul32Full(a: number, b: number): { hi: number; lo: number } {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const ll = aLo * bLo;
  const lh = aLo * bHi;
  const hl = aHi * bLo;
  const hh = aHi * bHi;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  const lo = ((mid & 0xffff) << 16) | (ll & 0xffff);
  const hi = hh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16);
  return { hi: hi >>> 0, lo: lo >>> 0 };
}
