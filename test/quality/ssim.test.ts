// SSIM against two references: the independent ssim.js package configured to the same algorithm
// (Wang et al.'s original: 11×11 Gaussian σ 1.5, 'valid', no downsampling, rgb2gray luma), and a
// committed fixture pair whose expected value numpy/scipy computed (test/fixtures/quality/expected.py).
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ssim as ssimJs } from "ssim.js";
import { decodeInputFrame, encodeJpeg, syntheticFrame } from "../../src/codec";
import { psnr } from "../../src/quality/psnr";
import { lumaOf, ssim, ssimPlane } from "../../src/quality/ssim";

const H = 48;
const W = 64;
const size = { height: H, width: W };

function rgba(rgb: Uint8Array): { data: Uint8ClampedArray; width: number; height: number } {
  const out = new Uint8ClampedArray(H * W * 4);
  for (let i = 0; i < H * W; i++) {
    out[4 * i] = rgb[3 * i]!;
    out[4 * i + 1] = rgb[3 * i + 1]!;
    out[4 * i + 2] = rgb[3 * i + 2]!;
    out[4 * i + 3] = 255;
  }
  return { data: out, width: W, height: H };
}

function reference(a: Uint8Array, b: Uint8Array): number {
  return ssimJs(rgba(a), rgba(b), { ssim: "original", downsample: false, rgb2grayVersion: "original", windowSize: 11, k1: 0.01, k2: 0.03, bitDepth: 8 }).mssim;
}

function noisy(f: Uint8Array, amplitude: number): Uint8Array {
  let s = 0x2545f491;
  return f.map((v) => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return Math.max(0, Math.min(255, v + ((s >>> 16) % (2 * amplitude + 1)) - amplitude));
  });
}

function boxBlur(f: Uint8Array): Uint8Array {
  const out = new Uint8Array(f.length);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++)
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        let n = 0;
        for (let dy = -2; dy <= 2; dy++)
          for (let dx = -2; dx <= 2; dx++) {
            const yy = y + dy;
            const xx = x + dx;
            if (yy >= 0 && yy < H && xx >= 0 && xx < W) {
              sum += f[(yy * W + xx) * 3 + c]!;
              n++;
            }
          }
        out[(y * W + x) * 3 + c] = Math.round(sum / n);
      }
  return out;
}

/** The frame moved right by `dx` pixels, the first column repeated into the gap. */
function shifted(f: Uint8Array, dx: number): Uint8Array {
  const out = new Uint8Array(f.length);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out.set(f.subarray((y * W + Math.max(0, x - dx)) * 3, (y * W + Math.max(0, x - dx)) * 3 + 3), (y * W + x) * 3);
  return out;
}

describe("quality/ssim", () => {
  const frame = syntheticFrame(H, W, 2);

  it("is exactly 1 for identical images", () => {
    assert.equal(ssim(frame, frame.slice(), size), 1);
  });

  it("uses rgb2gray's rounded BT.601 luma", () => {
    assert.deepEqual(Array.from(lumaOf(Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]), { height: 1, width: 4 })), [76, 150, 29, 18]);
  });

  it("refuses images smaller than the 11x11 window", () => {
    assert.throws(() => ssimPlane(new Float64Array(100), new Float64Array(100), { height: 10, width: 10 }), /at least 11x11/);
  });

  describe("agrees with ssim.js (original algorithm, no downsampling) within 1e-3", () => {
    const cases: [string, () => Promise<Uint8Array>][] = [
      ["noise ±8", async () => noisy(frame, 8)],
      ["noise ±30", async () => noisy(frame, 30)],
      ["5x5 box blur", async () => boxBlur(frame)],
      ["JPEG q30 via sharp", async () => decodeInputFrame({ encoding: "JPEG", data: await encodeJpeg(frame, size, 30) }, size)],
      ["JPEG q75 via sharp", async () => decodeInputFrame({ encoding: "JPEG", data: await encodeJpeg(frame, size, 75) }, size)],
      ["shifted 2 px", async () => shifted(frame, 2)],
      ["another frame of the clip", async () => syntheticFrame(H, W, 9)],
    ];
    for (const [name, make] of cases) {
      it(name, async () => {
        const other = await make();
        const ours = ssim(frame, other, size);
        const theirs = reference(frame, other);
        assert.ok(ours < 1, `${name}: the pair should differ (ssim ${ours})`);
        assert.ok(Math.abs(ours - theirs) < 1e-3, `${name}: ours ${ours}, ssim.js ${theirs}`);
      });
    }
  });

  it("matches the committed fixture (numpy/scipy transcription of ssim_index.m) within 1e-6", () => {
    const dir = path.join(__dirname, "..", "fixtures", "quality");
    const expected = JSON.parse(fs.readFileSync(path.join(dir, "expected.json"), "utf8")) as { height: number; width: number; ssim: number; psnr_db: number };
    const a = new Uint8Array(fs.readFileSync(path.join(dir, "ssim-a.rgb")));
    const b = new Uint8Array(fs.readFileSync(path.join(dir, "ssim-b.rgb")));
    const got = ssim(a, b, { height: expected.height, width: expected.width });
    assert.ok(Math.abs(got - expected.ssim) < 1e-6, `ssim ${got}, fixture ${expected.ssim}`);
    assert.ok(Math.abs(psnr(a, b) - expected.psnr_db) < 1e-9, `psnr ${psnr(a, b)}, fixture ${expected.psnr_db}`);
  });
});
