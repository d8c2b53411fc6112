import assert from "node:assert/strict";
import { Pcg32 } from "../../src/planning/rng";

describe("planning/rng: PCG32", () => {
  it("reproduces the reference pcg32 sequence (pcg32-demo: seed 42, stream 54)", () => {
    const r = new Pcg32(42, 54);
    const got = Array.from({ length: 6 }, () => r.nextU32());
    assert.deepEqual(got, [0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e]);
  });

  it("streams of one seed differ, and a seed replays exactly", () => {
    const a = Array.from({ length: 4 }, ((r) => () => r.nextU32())(new Pcg32(7, 1)));
    const b = Array.from({ length: 4 }, ((r) => () => r.nextU32())(new Pcg32(7, 2)));
    const a2 = Array.from({ length: 4 }, ((r) => () => r.nextU32())(new Pcg32(7, 1)));
    assert.notDeepEqual(a, b);
    assert.deepEqual(a, a2);
  });

  it("normals have mean ~0 and variance ~1; uniforms stay in [0, 1)", () => {
    const r = new Pcg32(20261202);
    const n = 200_000;
    let sum = 0;
    let sq = 0;
    for (let i = 0; i < n; i++) {
      const x = r.normal();
      sum += x;
      sq += x * x;
    }
    const mean = sum / n;
    assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(sq / n - mean * mean - 1) < 0.02, `variance ${sq / n}`);
    for (let i = 0; i < 10_000; i++) {
      const u = r.uniform();
      assert.ok(u >= 0 && u < 1);
    }
  });
});
