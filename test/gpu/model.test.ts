// Behaviour of the reference model through the in-process path (gpu/direct.ts, gpu/sessions.ts).
import { strict as assert } from "node:assert";
import type { CatalogEntry } from "../../src/config/catalog";
import { DirectModel } from "../../gpu/direct";
import { sampleScene } from "../../gpu/tools/samples";
import { bytesEqual, meanAbsDiff, randomActions, tinyModel } from "./helpers";

describe("gpu reference model (tiny, in-process)", () => {
  let entry: CatalogEntry;
  let model: DirectModel;
  let frame: Uint8Array;
  const [H, W] = [48, 64];
  const FB = H * W * 3;

  before(async () => {
    const m = await tinyModel();
    entry = m.entry;
    model = await DirectModel.open(m.modelDir, entry);
    frame = await sampleScene(H, W);
  });
  after(async () => model?.close());

  const run = (actions: Float32Array, opts: { k?: number; t?: number; numSteps?: number; seed?: bigint; guidance?: number } = {}) =>
    model.run({ k: opts.k ?? 1, t: opts.t ?? 24, numSteps: opts.numSteps ?? 4, seed: opts.seed ?? 0n, guidance: opts.guidance, frame, actions });

  it("produces T+1 frames per candidate, frame 0 being the start frame", async () => {
    const r = await run(randomActions(2 * 24 * 384, 1), { k: 2 });
    assert.equal(r.frames.length, 2 * 25 * FB);
    assert.ok(bytesEqual(r.frames.subarray(0, FB), frame));
    assert.ok(bytesEqual(r.frames.subarray(25 * FB, 26 * FB), frame));
    assert.equal(r.stepMs.length, 2);
  });

  it("is deterministic: same inputs and seed give identical frames", async () => {
    const a = randomActions(24 * 384, 2);
    const [x, y] = [await run(a, { seed: 42n }), await run(a, { seed: 42n })];
    assert.ok(bytesEqual(x.frames, y.frames));
  });

  it("writes into a caller's output buffer when given one (the bench's reused floor), with the same frames", async () => {
    const a = randomActions(2 * 24 * 384, 3);
    const fresh = await run(a, { k: 2, seed: 7n });
    const into = new Uint8Array(fresh.frames.length).fill(0xab);
    const reused = await model.run({ k: 2, t: 24, numSteps: 4, seed: 7n, frame, actions: a, into });
    assert.equal(reused.frames, into);
    assert.ok(bytesEqual(reused.frames, fresh.frames));
    await assert.rejects(model.run({ k: 2, t: 24, numSteps: 4, seed: 7n, frame, actions: a, into: into.subarray(1) }), /into: .* bytes, expected/);
  });

  it("frames respond to actions", async () => {
    const x = await run(randomActions(24 * 384, 3));
    const y = await run(randomActions(24 * 384, 4));
    const last = (f: Uint8Array) => f.subarray(24 * FB);
    assert.ok(meanAbsDiff(last(x.frames), last(y.frames)) > 3, "different actions must give visibly different frames");
  });

  it("zero actions keep the scene still; the first predicted frame resembles the start frame", async () => {
    const still = await run(new Float32Array(24 * 384));
    assert.ok(meanAbsDiff(still.frames.subarray(FB, 2 * FB), still.frames.subarray(24 * FB)) < 2, "no motion without actions");
    const moving = await run(randomActions(24 * 384, 5));
    const first = moving.frames.subarray(FB, 2 * FB);
    // The latent keeps appearance at quarter resolution (12x16 here): blurrier, but clearly the same
    // picture (about 11 of 255 off on average at 48x64, mostly at edges; a flat grey frame is 60 off).
    assert.ok(meanAbsDiff(first, frame) < 16, `first frame differs from the start frame by ${meanAbsDiff(first, frame).toFixed(1)}`);
    const unrelated = new Uint8Array(FB).fill(128);
    assert.ok(meanAbsDiff(first, frame) < meanAbsDiff(unrelated, frame) / 3);
  });

  it("num_steps changes the output (more denoising steps, less residual noise)", async () => {
    const a = randomActions(12 * 384, 6);
    const [one, four, eight] = [await run(a, { t: 12, numSteps: 1 }), await run(a, { t: 12, numSteps: 4 }), await run(a, { t: 12, numSteps: 8 })];
    assert.ok(!bytesEqual(one.frames, four.frames));
    assert.ok(!bytesEqual(four.frames, eight.frames));
    // Residual noise shrinks as (1-relax)^num_steps: 4 and 8 steps are closer to each other than 1 and 4.
    assert.ok(meanAbsDiff(four.frames, eight.frames) < meanAbsDiff(one.frames, four.frames));
  });

  it("seed and guidance enter the output", async () => {
    const a = randomActions(12 * 384, 7);
    const base = await run(a, { t: 12, numSteps: 1 });
    assert.ok(!bytesEqual(base.frames, (await run(a, { t: 12, numSteps: 1, seed: 1n })).frames), "seed");
    assert.ok(!bytesEqual(base.frames, (await run(a, { t: 12, numSteps: 1, guidance: 3 })).frames), "guidance");
  });

  it("pads and trims a trailing partial chunk: the first 12 frames match the full-chunk run", async () => {
    const a = randomActions(24 * 384, 8);
    const full = await run(a, { t: 24 });
    const partial = await run(a.slice(0, 13 * 384), { t: 13 });
    assert.equal(partial.frames.length, 14 * FB);
    assert.equal(partial.stepMs.length, 2);
    assert.ok(bytesEqual(partial.frames.subarray(0, 13 * FB), full.frames.subarray(0, 13 * FB)));
  });
});
