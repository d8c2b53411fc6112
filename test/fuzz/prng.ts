// A seeded PRNG for the fuzzer (mulberry32): the same seed replays the same cases, so a failure found
// in CI is reproduced with DREAM_FUZZ_SEED=<seed> and nothing else.
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi] inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = Math.floor(this.next() * 256);
    return out;
  }

  /** Printable ASCII, or any UTF-16 unit below the surrogates (so it always URI-encodes), of length n. */
  text(n: number, anyByte = false): string {
    let s = "";
    for (let i = 0; i < n; i++) s += String.fromCharCode(anyByte ? this.int(0, 0xd7ff) : this.int(0x20, 0x7e));
    return s;
  }

  /** A version-4-shaped UUID from this generator, so request ids replay with the seed too. */
  uuid(): string {
    const h = this.bytes(16).toString("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }

  /** A seed for a child generator, so a lane's cases do not depend on how other lanes interleave. */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 4294967296));
  }
}
