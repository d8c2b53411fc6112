import { strict as assert } from "node:assert";
import { chunkNoise, SplitMix64 } from "../../gpu/prng";
import { NoiseCache, chunkActions, chunkCount, framesInChunk } from "../../gpu/packing";

describe("gpu/prng + packing", () => {
  it("splitmix64 matches the reference sequence for seed 0", () => {
    // First outputs of splitmix64 seeded with 0 (Vigna's reference implementation).
    const sm = new SplitMix64(0n);
    assert.equal(sm.next(), 0xe220a8397b1dcdafn);
    assert.equal(sm.next(), 0x6e789e6aa1b965f4n);
  });

  it("chunk noise is a pure function of (seed, chunk) and roughly standard normal", () => {
    const a = chunkNoise(7n, 3, 10_000);
    assert.deepEqual(a, chunkNoise(7n, 3, 10_000));
    assert.notDeepEqual(a, chunkNoise(7n, 4, 10_000));
    assert.notDeepEqual(a, chunkNoise(8n, 3, 10_000));
    let mean = 0;
    let sq = 0;
    for (const v of a) {
      mean += v / a.length;
      sq += (v * v) / a.length;
    }
    assert.ok(Math.abs(mean) < 0.05 && Math.abs(sq - 1) < 0.05, `mean ${mean}, E[x^2] ${sq}`);
    // Seeds are taken modulo 2^64, so -1 and 2^64-1 are the same stream.
    assert.deepEqual(chunkNoise(-1n, 0, 16), chunkNoise((1n << 64n) - 1n, 0, 16));
  });

  it("NoiseCache returns the same values as chunkNoise and bounds its size", () => {
    const cache = new NoiseCache(64, 2);
    const x = cache.get(1n, 0);
    assert.equal(cache.get(1n, 0), x, "cached");
    assert.deepEqual(x, chunkNoise(1n, 0, 64));
    cache.get(2n, 0);
    cache.get(3n, 0);
    assert.notEqual(cache.get(1n, 0), x, "evicted, then made again");
    assert.deepEqual(cache.get(1n, 0), x);
  });

  it("pads a trailing partial chunk with zeros", () => {
    const actions = Float32Array.from({ length: 13 * 2 }, (_, i) => i + 1);
    assert.equal(chunkCount(13, 12), 2);
    assert.equal(framesInChunk(13, 1, 12), 1);
    const last = chunkActions(actions, 13, 1, 12, 2);
    assert.deepEqual(Array.from(last.subarray(0, 2)), [25, 26]);
    assert.ok(last.subarray(2).every((v) => v === 0));
  });
});
