// LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric")
// through onnxruntime-node, for the quality bench (`npm run quality -- --lpips <model.onnx>`). It lives
// under gpu/ because only gpu/ may import onnxruntime-node; the pure metrics are in src/quality/.
//
// No LPIPS weights ship with Dream Engine and none can be downloaded from the machines it is built
// on, so the model is whatever export the caller names. The contract it must meet, checked at load so
// a wrong export fails there with the tensor named, never with a number that means something else:
//
//   inputs   exactly two float32 tensors of rank 4, NCHW [N, 3, H, W]: the reference image first, the
//            distorted one second (LPIPS is symmetric; the order only names them). RGB, channel 0 red,
//            values scaled to [-1, 1] (x / 127.5 - 1), the range the reference implementation's
//            `normalize=False` path expects. N, H and W may be symbolic; a fixed N must be 1, fixed
//            H and W must equal the frames'.
//   output   exactly one float32 tensor holding one value per image pair: shape [N], [N, 1] or
//            [N, 1, 1, 1] (the reference implementation returns [N, 1, 1, 1]), or a scalar [] for N = 1.
//
// The usual export (`torch.onnx.export(lpips.LPIPS(net="alex"), (x0, x1), ...)`) meets it as it is.
import { existsSync, statSync } from "node:fs";
import type * as ort from "onnxruntime-node";
import { Tensor } from "onnxruntime-node";
import { assert } from "../src/core/assert";
import { parseExecutionProvider } from "./ep";
import { createSession } from "./sessions";

export class LpipsModelError extends Error {
  override name = "LpipsModelError";
}

export interface LpipsImageSize {
  height: number;
  width: number;
}

type Meta = ort.InferenceSession.ValueMetadata;

function describe(m: Meta): string {
  return m.isTensor ? `${JSON.stringify(m.name)} ${m.type}[${m.shape.map(String).join(", ")}]` : `${JSON.stringify(m.name)} (not a tensor)`;
}

/** The contract above; throws naming the file and the offending tensor. */
export function checkLpipsContract(file: string, inputs: readonly Meta[], outputs: readonly Meta[], size: LpipsImageSize): void {
  const fail = (why: string): never => {
    throw new LpipsModelError(`${file} is not an LPIPS model this runner can use: ${why} (expected two float32 NCHW [N, 3, H, W] inputs in [-1, 1] and one float32 distance per pair; see gpu/lpips.ts)`);
  };
  if (inputs.length !== 2) fail(`it has ${inputs.length} input(s) (${inputs.map(describe).join(", ")})`);
  for (const m of inputs) {
    if (!m.isTensor || m.type !== "float32" || m.shape.length !== 4) fail(`input ${describe(m)} is not a float32 rank-4 tensor`);
    const [n, c, h, w] = (m as ort.InferenceSession.TensorValueMetadata).shape;
    const fixedOk = (d: number | string | undefined, want: number) => typeof d !== "number" || d === want;
    if (!fixedOk(n, 1)) fail(`input ${describe(m)} fixes N to ${String(n)}; it must be 1 or symbolic`);
    if (c !== 3) fail(`input ${describe(m)} must have 3 channels in dimension 1 (NCHW)`);
    if (!fixedOk(h, size.height) || !fixedOk(w, size.width)) fail(`input ${describe(m)} fixes H x W, but the frames are ${size.height} x ${size.width}`);
  }
  if (outputs.length !== 1) fail(`it has ${outputs.length} outputs (${outputs.map(describe).join(", ")})`);
  const out = outputs[0]!;
  if (!out.isTensor || out.type !== "float32") fail(`output ${describe(out)} is not a float32 tensor`);
  const shape = (out as ort.InferenceSession.TensorValueMetadata).shape;
  const perPair = shape.length <= 4 && shape.slice(1).every((d) => d === 1 || typeof d !== "number");
  if (!perPair) fail(`output ${describe(out)} is not one value per image pair ([N], [N, 1] or [N, 1, 1, 1])`);
}

/** Interleaved RGB8 (H*W*3) → float32 NCHW [1, 3, H, W] in [-1, 1]. */
export function lpipsInput(rgb: Uint8Array, size: LpipsImageSize): Float32Array {
  const n = size.height * size.width;
  assert(rgb.length === n * 3, `frame is ${rgb.length} bytes, expected ${size.height}x${size.width}x3`);
  const out = new Float32Array(3 * n);
  for (let i = 0; i < n; i++) for (let c = 0; c < 3; c++) out[c * n + i] = rgb[3 * i + c]! / 127.5 - 1;
  return out;
}

export class LpipsModel {
  private constructor(
    readonly file: string,
    readonly size: LpipsImageSize,
    private readonly session: ort.InferenceSession,
  ) {}

  /** Loads and checks the model for frames of `size`; CPU unless `executionProvider` says otherwise. */
  static async open(file: string, size: LpipsImageSize, opts: { executionProvider?: string; intraOpThreads?: number } = {}): Promise<LpipsModel> {
    if (!existsSync(file)) throw new LpipsModelError(`LPIPS model not found: ${file} (give the path of an LPIPS ONNX export)`);
    if (!statSync(file).isFile()) throw new LpipsModelError(`LPIPS model path is not a file: ${file}`);
    let session: ort.InferenceSession;
    try {
      session = await createSession(parseExecutionProvider(opts.executionProvider ?? "cpu"), file, opts.intraOpThreads);
    } catch (err) {
      throw new LpipsModelError(`cannot load LPIPS model ${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      checkLpipsContract(file, session.inputMetadata, session.outputMetadata, size);
    } catch (err) {
      await session.release();
      throw err;
    }
    return new LpipsModel(file, size, session);
  }

  /** The model's distance between two RGB8 frames (0 for a faithful export on identical frames). */
  async distance(reference: Uint8Array, distorted: Uint8Array): Promise<number> {
    const dims = [1, 3, this.size.height, this.size.width];
    const [first, second] = this.session.inputNames;
    const result = await this.session.run({
      [first!]: new Tensor("float32", lpipsInput(reference, this.size), dims),
      [second!]: new Tensor("float32", lpipsInput(distorted, this.size), dims),
    });
    const out = result[this.session.outputNames[0]!]!;
    if (out.size !== 1) throw new LpipsModelError(`${this.file}: output has ${out.size} values for one image pair, expected 1`);
    return Number((out.data as Float32Array)[0]);
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
