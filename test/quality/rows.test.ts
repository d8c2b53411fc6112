// The quality bench's verdicts (bench/quality-rows.ts): a lossless output that differs from the direct
// frames by one byte fails, named by candidate, frame and byte; a lossy one is measured, and fails only
// on its PSNR target or a wrong frame count.
import assert from "node:assert/strict";
import { compareRow, OUTPUTS, rowFailure } from "../../bench/quality-rows";
import { syntheticFrame } from "../../src/codec";

const size = { height: 16, width: 20 };
const ctx = { model: "m", composition: "K=2", k: 2, t: 1, numSteps: 4, seed: 7, size };
const frames = (t: number) => [syntheticFrame(16, 20, t), syntheticFrame(16, 20, t + 1)];

describe("quality bench rows", () => {
  it("identical lossless frames pass: bit-exact, PSNR ∞, SSIM 1", async () => {
    const row = await compareRow(ctx, OUTPUTS.RAW_RGB8, [{ candidate: 0, served: frames(0), direct: frames(0) }]);
    assert.equal(row.bit_exact, true);
    assert.equal(row.psnr_db, Infinity);
    assert.equal(row.ssim, 1);
    assert.equal(rowFailure(row), undefined);
  });

  it("one differing byte in a lossless output fails, naming candidate, frame, byte and values", async () => {
    const served = frames(0).map((f) => f.slice());
    served[1]![301] = served[1]![301]! ^ 1;
    const row = await compareRow(ctx, OUTPUTS.PNG, [
      { candidate: 0, served: frames(0), direct: frames(0) },
      { candidate: "B1", served, direct: frames(0) },
    ]);
    assert.equal(row.bit_exact, false);
    assert.match(row.difference!, /^candidate B1: frame 1: byte 301 \(pixel 100, channel 1\) is \d+, direct has \d+$/);
    assert.match(rowFailure(row)!, /m \/ K=2 \/ PNG: served output differs from direct unbatched output: candidate B1/);
  });

  it("a missing frame fails even for a lossy output", async () => {
    const row = await compareRow(ctx, OUTPUTS.MP4, [{ candidate: 3, served: frames(0).slice(0, 1), direct: frames(0) }]);
    assert.equal(row.bit_exact, null);
    assert.match(rowFailure(row)!, /candidate 3: frame 1: frame count 1, expected 2/);
  });

  it("a lossy output is measured against its target", async () => {
    // Every byte off by 20: PSNR 10·log10(255²/400) = 22.1 dB, under JPEG q90's 40 dB target.
    const off = frames(0).map((f) => f.map((v) => (v < 128 ? v + 20 : v - 20)));
    const row = await compareRow(ctx, OUTPUTS["JPEG q90"], [{ candidate: 0, served: off, direct: frames(0) }]);
    assert.ok(Math.abs(row.psnr_db - 10 * Math.log10((255 * 255) / 400)) < 1e-9);
    assert.equal(row.target_pass, false);
    assert.match(rowFailure(row)!, /PSNR 22\.11 dB is under the 40 dB target/);
    assert.equal(row.lpips, null, "no LPIPS model given: null, never a number");
  });

  it("a composition that did not happen as meant fails with its reason", async () => {
    const row = await compareRow({ ...ctx, problem: "not exercised: the cancel arrived late" }, OUTPUTS.RAW_RGB8, [{ candidate: 0, served: frames(0), direct: frames(0) }]);
    assert.match(rowFailure(row)!, /not exercised: the cancel arrived late/);
  });
});
