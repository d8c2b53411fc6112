// The LPIPS runner's contract checks and its packing, end to end through onnxruntime-node, with tiny
// graphs built in memory that satisfy (or break) the contract. None of them is LPIPS: these tests
// assert what the runner hands the model and how it reads the answer, and never report a distance.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { attr, DT, encodeModel, GraphBuilder, type Dim } from "../../gpu/onnx/graph";
import { LpipsModel, lpipsInput } from "../../gpu/lpips";

const H = 12;
const W = 16;
const size = { height: H, width: W };

function modelFile(dir: string, name: string, build: (g: GraphBuilder) => void): string {
  const g = new GraphBuilder(name);
  build(g);
  const file = path.join(dir, `${name}.onnx`);
  fs.writeFileSync(file, encodeModel(g.build(), { irVersion: 10, opset: 21, producerName: "dream-engine-test", producerVersion: "1", docString: "", metadata: {} }));
  return file;
}

/** mean over C,H,W of channelWeight[c] · (x0 - x1)², shaped [N,1,1,1] like the reference LPIPS. */
function weightedMse(g: GraphBuilder, dims: Dim[], channelWeights: number[], weightDims = [1, 3, 1, 1]): void {
  const x0 = g.input("in0", DT.FLOAT, dims);
  const x1 = g.input("in1", DT.FLOAT, dims);
  const d = g.o("Sub", [x0, x1]);
  const weighted = g.o("Mul", [g.o("Mul", [d, d]), g.f32("weights", weightDims, channelWeights)]);
  const mean = g.o("ReduceMean", [weighted, g.i64("axes", [3], [1, 2, 3])], { keepdims: attr.i(1) });
  g.output("distance", DT.FLOAT, ["N", 1, 1, 1], mean);
}

describe("gpu/lpips runner", () => {
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-lpips-"))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("a missing model path is a clear error naming it", async () => {
    const missing = path.join(dir, "no-such-lpips.onnx");
    await assert.rejects(LpipsModel.open(missing, size), (err: Error) => err.name === "LpipsModelError" && err.message.includes("LPIPS model not found") && err.message.includes(missing));
  });

  it("a file that is not ONNX is a clear load error", async () => {
    const bad = path.join(dir, "garbage.onnx");
    fs.writeFileSync(bad, "this is not a protobuf");
    await assert.rejects(LpipsModel.open(bad, size), /cannot load LPIPS model .*garbage\.onnx/);
  });

  it("a model with the wrong inputs or output is refused at load, naming the tensor", async () => {
    const oneInput = modelFile(dir, "one_input", (g) => {
      const x = g.input("x", DT.FLOAT, [1, 3, H, W]);
      g.output("distance", DT.FLOAT, [1, 1, 1, 1], g.o("ReduceMean", [x, g.i64("axes", [3], [1, 2, 3])], { keepdims: attr.i(1) }));
    });
    await assert.rejects(LpipsModel.open(oneInput, size), /has 1 input\(s\) \("x" float32\[1, 3, 12, 16\]\)/);
    const nhwc = modelFile(dir, "nhwc", (g) => weightedMse(g, [1, H, W, 3], [1, 1, 1], [1, 1, 1, 3]));
    await assert.rejects(LpipsModel.open(nhwc, size), /must have 3 channels in dimension 1 \(NCHW\)/);
    const wrongSize = modelFile(dir, "wrong_size", (g) => weightedMse(g, [1, 3, 224, 224], [1, 1, 1]));
    await assert.rejects(LpipsModel.open(wrongSize, size), /fixes H x W, but the frames are 12 x 16/);
    const perPixel = modelFile(dir, "per_pixel", (g) => {
      const x0 = g.input("in0", DT.FLOAT, [1, 3, H, W]);
      const x1 = g.input("in1", DT.FLOAT, [1, 3, H, W]);
      g.output("map", DT.FLOAT, [1, 3, H, W], g.o("Sub", [x0, x1]));
    });
    await assert.rejects(LpipsModel.open(perPixel, size), /is not one value per image pair/);
  });

  it("packs RGB8 as NCHW in [-1, 1] and reads one value per pair (end to end through ORT)", async () => {
    // Only channel 0 counts: a difference in red must reach the model as channel 0, green/blue not at all.
    const file = modelFile(dir, "red_mse", (g) => weightedMse(g, ["N", 3, "H", "W"], [3, 0, 0]));
    const model = await LpipsModel.open(file, size);
    try {
      const base = new Uint8Array(H * W * 3).fill(100);
      assert.equal(await model.distance(base, base), 0);
      const e = 51; // 51 / 127.5 = 0.4 in the model's units
      const redOff = base.map((v, i) => (i % 3 === 0 ? v + e : v));
      const greenBlueOff = base.map((v, i) => (i % 3 === 0 ? v : v + e));
      // mean over C of weights·d² = (3 · 0.4² + 0 + 0) / 3 = 0.16, in float32.
      assert.ok(Math.abs((await model.distance(base, redOff)) - 0.16) < 1e-6);
      assert.equal(await model.distance(base, greenBlueOff), 0);
    } finally {
      await model.close();
    }
  });

  it("lpipsInput maps 0 → -1, 255 → 1 and de-interleaves channels", () => {
    const px = lpipsInput(Uint8Array.from([0, 255, 51, 255, 0, 204]), { height: 1, width: 2 });
    assert.deepEqual(Array.from(px, (v) => Math.round(v * 1e6) / 1e6), [-1, 1, 1, -1, -0.6, 0.6]);
  });
});
