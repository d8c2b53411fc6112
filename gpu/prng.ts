// Deterministic pseudo-random numbers for the engine: the per-(seed, chunk) diffusion noise and the
// reference models' weights. Seeding goes through splitmix64 on BigInt (a handful of BigInt ops per
// stream), the stream itself is xoshiro128** in 32-bit integer math, because BigInt arithmetic per
// sample would cost ~100x more and the 480p noise is 76,800 normals per (seed, chunk).
// The exact algorithm is part of the model contract (docs/MODEL_CONTRACT.md): changing it changes
// every rollout's frames for a given seed.
import { assert } from "../src/core/assert";

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;

/** splitmix64 (Steele, Lea, Flood 2014): one 64-bit output per call, state advanced by the golden gamma. */
export class SplitMix64 {
  private state: bigint;
  constructor(seed: bigint) {
    this.state = BigInt.asUintN(64, seed);
  }
  next(): bigint {
    this.state = (this.state + GOLDEN_GAMMA) & MASK64;
    let z = this.state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    return z ^ (z >> 31n);
  }
}

/** xoshiro128** (Blackman, Vigna 2018), state seeded from splitmix64. */
export class Xoshiro128 {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  constructor(seed: bigint) {
    const sm = new SplitMix64(seed);
    const a = sm.next();
    const b = sm.next();
    this.s0 = Number(a & 0xffffffffn) | 0;
    this.s1 = Number(a >> 32n) | 0;
    this.s2 = Number(b & 0xffffffffn) | 0;
    this.s3 = Number(b >> 32n) | 0;
    assert((this.s0 | this.s1 | this.s2 | this.s3) !== 0, "xoshiro128 state must not be all zero");
  }
  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }
  /** Uniform in (0, 1]: 24 random bits, never 0 so that log() is finite. */
  nextUnitOpen(): number {
    return ((this.nextU32() >>> 8) + 1) / 16777216;
  }
  /** Fill `out` with standard normals (Box-Muller, both outputs of each pair used). */
  fillNormal(out: Float32Array, scale = 1): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(this.nextUnitOpen())) * scale;
      const theta = 2 * Math.PI * (this.nextU32() >>> 8) / 16777216;
      out[i] = r * Math.cos(theta);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(theta);
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** 64-bit FNV-1a of a string: a stable seed from a name (weights are seeded by model + tensor name). */
export function fnv1a64(text: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(text, "utf8")) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & MASK64;
  }
  return h;
}

/**
 * The diffusion noise of one (seed, chunk): `count` standard normals. A pure function of its
 * arguments, identical for every lane that shares the seed — common random numbers, so candidates
 * of one MPC batch differ only by their actions.
 */
export function chunkNoise(seed: bigint, chunkIndex: number, count: number): Float32Array {
  assert(Number.isSafeInteger(chunkIndex) && chunkIndex >= 0, `chunkIndex must be a non-negative integer, got ${chunkIndex}`);
  const streamSeed = BigInt.asUintN(64, seed) ^ BigInt.asUintN(64, BigInt(chunkIndex + 1) * 0xd1b54a32d192ed03n);
  return new Xoshiro128(streamSeed).fillNormal(new Float32Array(count));
}
