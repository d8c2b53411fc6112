import assert from "node:assert/strict";
import { syntheticFrame } from "../../src/codec";
import { meanSquaredError, psnr, psnrFromMse } from "../../src/quality/psnr";

describe("quality/psnr", () => {
  const frame = syntheticFrame(48, 64, 3);

  it("is +Infinity for identical images", () => {
    assert.equal(psnr(frame, frame.slice()), Infinity);
  });

  for (const e of [1, 2, 5, 17, 100]) {
    it(`is exactly 10·log10(255²/e²) for a uniform error e = ${e} on every byte`, () => {
      // Half the bytes up by e, half down, chosen so that no value clips: |error| = e everywhere.
      const base = new Uint8Array(frame.length).fill(128);
      const shifted = base.map((v, i) => (i % 2 === 0 ? v + e : v - e));
      assert.equal(meanSquaredError(base, shifted), e * e);
      const expected = 10 * Math.log10((255 * 255) / (e * e));
      assert.ok(Math.abs(psnr(base, shifted) - expected) < 1e-9, `${psnr(base, shifted)} vs ${expected}`);
    });
  }

  it("peaks at 255: the largest possible error (0 vs 255 everywhere) is 0 dB", () => {
    assert.equal(psnr(new Uint8Array(30), new Uint8Array(30).fill(255)), 0);
  });

  it("refuses images of different sizes and negative MSE", () => {
    assert.throws(() => psnr(new Uint8Array(3), new Uint8Array(6)), /differ in size/);
    assert.throws(() => psnrFromMse(-1), /negative MSE/);
  });
});
