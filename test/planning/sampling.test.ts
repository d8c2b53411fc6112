import assert from "node:assert/strict";
import { dimMask, shiftSequence } from "../../src/planning/actions";
import { Pcg32 } from "../../src/planning/rng";
import { sampleCandidates, type SamplingSpec } from "../../src/planning/sampling";

const shape = { steps: 12, dim: 8 };
const n = shape.steps * shape.dim;

function spec(over: Partial<SamplingSpec> = {}): SamplingSpec {
  const nominal = new Float32Array(n).map((_, i) => 0.25 + (i % shape.dim) / 100);
  return { shape, mask: dimMask(shape.dim, [{ start: 0, end: 3 }]), nominal, correlation: { kind: "none" }, ...over };
}
const zeros = new Float32Array(n);
const ones = new Float32Array(n).fill(1);
const rngs = (seed: number) => (k: number) => new Pcg32(seed, k);

describe("planning/sampling", () => {
  it("samples only in the masked dimensions; the others stay at the nominal sequence", () => {
    const s = spec();
    for (const c of sampleCandidates(s, zeros, ones, 4, rngs(1))) {
      for (let i = 0; i < n; i++) {
        const d = i % shape.dim;
        if (d >= 3) assert.equal(c[i], s.nominal[i]);
      }
      assert.ok(c.some((v, i) => i % shape.dim < 3 && v !== 0), "masked dims were not sampled");
    }
  });

  it("an empty mask list samples every dimension", () => {
    assert.deepEqual([...dimMask(4, [])], [1, 1, 1, 1]);
    assert.deepEqual([...dimMask(6, [{ start: 1, end: 3 }, { start: 5, end: 6 }])], [0, 1, 1, 0, 0, 1]);
  });

  it("clips to per-dimension bounds", () => {
    const bounds = { low: new Float32Array(shape.dim).fill(-0.1), high: new Float32Array(shape.dim).fill(0.2) };
    const big = new Float32Array(n).fill(10);
    for (const c of sampleCandidates(spec({ bounds }), zeros, big, 8, rngs(2))) {
      for (let i = 0; i < n; i++) if (i % shape.dim < 3) assert.ok(c[i]! >= -0.1 - 1e-7 && c[i]! <= 0.2 + 1e-7, `value ${c[i]}`);
    }
  });

  it("hold n keeps each draw constant for n steps (piecewise constant)", () => {
    const [c] = sampleCandidates(spec({ correlation: { kind: "hold", steps: 4 } }), zeros, ones, 1, rngs(3));
    for (let d = 0; d < 3; d++) {
      for (let t = 0; t < shape.steps; t++) {
        const blockStart = t - (t % 4);
        assert.equal(c![t * shape.dim + d], c![blockStart * shape.dim + d]);
      }
      assert.notEqual(c![0 * shape.dim + d], c![4 * shape.dim + d]);
    }
  });

  it("smoothing correlates neighbouring steps and keeps unit variance", () => {
    const long = { steps: 2000, dim: 1 };
    const s: SamplingSpec = { shape: long, mask: dimMask(1, []), nominal: new Float32Array(2000), correlation: { kind: "smooth", alpha: 0.9 } };
    const [c] = sampleCandidates(s, new Float32Array(2000), new Float32Array(2000).fill(1), 1, rngs(4));
    let v = 0;
    let lag = 0;
    for (let t = 0; t < 2000; t++) {
      v += c![t]! ** 2;
      if (t > 0) lag += c![t]! * c![t - 1]!;
    }
    assert.ok(Math.abs(v / 2000 - 1) < 0.25, `variance ${v / 2000}`);
    assert.ok(lag / v > 0.8, `lag-1 correlation ${lag / v}`);
  });

  it("is seeded: same seed, same candidates; candidate k does not depend on K", () => {
    const a = sampleCandidates(spec(), zeros, ones, 3, rngs(5));
    const b = sampleCandidates(spec(), zeros, ones, 5, rngs(5));
    assert.deepEqual(a.map((x) => [...x]), b.slice(0, 3).map((x) => [...x]));
    assert.notDeepEqual([...a[0]!], [...sampleCandidates(spec(), zeros, ones, 1, rngs(6))[0]!]);
  });

  it("shifting a warm start drops the executed steps and repeats the last one", () => {
    const s = { steps: 4, dim: 2 };
    const seq = Float32Array.from([1, 1, 2, 2, 3, 3, 4, 4]);
    assert.deepEqual([...shiftSequence(seq, s, 1)], [2, 2, 3, 3, 4, 4, 4, 4]);
    assert.deepEqual([...shiftSequence(seq, s, 3)], [4, 4, 4, 4, 4, 4, 4, 4]);
    assert.deepEqual([...shiftSequence(seq, s, 0)], [...seq]);
  });
});
