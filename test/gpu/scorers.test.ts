// Scorers (docs/MODEL_CONTRACT.md "Scorers"): the built-in graphs against plain-JS formulas, their
// invariants, the catalog's scorer fields, and scoring inside the runner's worker on the tiny model.
import { strict as assert } from "node:assert";
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CatalogEntry, CatalogScorer } from "../../src/config/catalog";
import { loadCatalog, validateEntry } from "../../src/config/load-catalog";
import { ServiceError } from "../../src/core/errors";
import type { StepLane } from "../../src/scheduler/executor";
import { ensureReferenceModels } from "../../gpu/build-reference-models";
import { attr, DT, encodeModel, GraphBuilder } from "../../gpu/onnx/graph";
import { createRunner, type OrtRunner } from "../../gpu/runner";
import { builtinScorerBytes, type BuiltinScorer } from "../../gpu/scorers/builtin";
import { ScorerSessions } from "../../gpu/scorers/scorer-sessions";
import { SSIM_C1, SSIM_C2 } from "../../gpu/scorers/ssim-graph";
import { sampleScene } from "../../gpu/tools/samples";
import { lane, randomActions, tinyModel } from "./helpers";

const [H, W, F, A] = [48, 64, 12, 384];
const FB = H * W * 3;
const LATENT = [16, 6, 8];
const LATENT_SIZE = 16 * 6 * 8;

// --- plain-JS references (float64) ------------------------------------------------------------------

function randomBytes(count: number, seed: number): Uint8Array {
  let s = seed >>> 0;
  return Uint8Array.from({ length: count }, () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) >>> 24);
}

/** One HxWx3 uint8 image → [0,1] values mean-pooled over s×s blocks, [H/s][W/s][3] flattened. */
function pooled(img: Uint8Array, s: number): { h: number; w: number; v: Float64Array } {
  const [h, w] = [H / s, W / s];
  const v = new Float64Array(h * w * 3);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) for (let c = 0; c < 3; c++) v[(Math.floor(y / s) * w + Math.floor(x / s)) * 3 + c]! += img[(y * W + x) * 3 + c]! / 255 / (s * s);
  return { h, w, v };
}

function pixelRef(frame: Uint8Array, goal: Uint8Array, s: number, metric: "l2" | "l1"): number {
  const [a, b] = [pooled(frame, s).v, pooled(goal, s).v];
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += metric === "l2" ? (a[i]! - b[i]!) ** 2 : Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

function ssimRef(frame: Uint8Array, goal: Uint8Array, s: number, k: number): number {
  const [x, y] = [pooled(frame, s), pooled(goal, s)];
  const at = (img: Float64Array, r: number, c: number, ch: number) => img[(r * x.w + c) * 3 + ch]!;
  let sum = 0;
  let count = 0;
  for (let ch = 0; ch < 3; ch++)
    for (let r0 = 0; r0 + k <= x.h; r0++)
      for (let c0 = 0; c0 + k <= x.w; c0++) {
        let [mx, my, mxx, myy, mxy] = [0, 0, 0, 0, 0];
        for (let r = r0; r < r0 + k; r++)
          for (let c = c0; c < c0 + k; c++) {
            const [p, q] = [at(x.v, r, c, ch), at(y.v, r, c, ch)];
            [mx, my, mxx, myy, mxy] = [mx + p, my + q, mxx + p * p, myy + q * q, mxy + p * q];
          }
        const n = k * k;
        [mx, my, mxx, myy, mxy] = [mx / n, my / n, mxx / n, myy / n, mxy / n];
        const [sxx, syy, sxy] = [mxx - mx * mx, myy - my * my, mxy - mx * my];
        sum += ((2 * mx * my + SSIM_C1) * (2 * sxy + SSIM_C2)) / ((mx * mx + my * my + SSIM_C1) * (sxx + syy + SSIM_C2));
        count++;
      }
  return 1 - sum / count;
}

function frameRef(spec: BuiltinScorer, frame: Uint8Array, goal: Uint8Array): number {
  if (spec.builtin === "ssim") return ssimRef(frame, goal, spec.downsample ?? 1, spec.window ?? 7);
  if (spec.builtin === "latent-mse") throw new Error("not a frame scorer");
  return pixelRef(frame, goal, spec.downsample ?? 1, spec.builtin === "pixel-l2" ? "l2" : "l1");
}

// --- fixtures ---------------------------------------------------------------------------------------

const FRAME_SCORERS: Record<string, BuiltinScorer> = {
  "l2-s1": { builtin: "pixel-l2" },
  "l2-s4": { builtin: "pixel-l2", downsample: 4 },
  "l1-s8": { builtin: "pixel-l1", downsample: 8 },
  "ssim-s1": { builtin: "ssim", window: 7 },
  "ssim-s2": { builtin: "ssim", downsample: 2, window: 5 },
};

function withScorers(entry: CatalogEntry, scorers: Record<string, CatalogScorer>): CatalogEntry {
  return validateEntry({ ...entry, scorers });
}

/** Lane i's frame j and goal as views of batch buffers [n, F, H, W, 3] and [n, H, W, 3]. */
const frameOf = (frames: Uint8Array, i: number, j: number) => frames.subarray((i * F + j) * FB, (i * F + j + 1) * FB);

/** A tiny custom frame scorer: cost = |mean brightness of the frame − of the goal| in [0,1] units. */
function brightnessScorer(goalType: number, framesDim: number | "F" = "F"): Uint8Array {
  const g = new GraphBuilder("test_brightness");
  const frames = g.input("frames", DT.UINT8, ["B", framesDim, H, W, 3]);
  const goal = g.input("goal", goalType, ["B", H, W, 3]);
  const axes = g.i64("axes", [3], [2, 3, 4]);
  const mean = (t: string) => g.o("ReduceMean", [g.o("Cast", [t], { to: attr.i(DT.FLOAT) }), axes], { keepdims: attr.i(0) });
  const goal5 = g.o("Unsqueeze", [goal, g.i64("axis1", [1], [1])]);
  const diff = g.o("Abs", [g.o("Sub", [mean(frames), mean(goal5)])]);
  g.output("cost", DT.FLOAT, ["B", framesDim], g.o("Mul", [diff, g.f32("inv255", [], [1 / 255])]));
  return encodeModel(g.build(), { irVersion: 10, opset: 21, producerName: "test", producerVersion: "1", docString: "", metadata: {} });
}

function brightnessRef(frame: Uint8Array, goal: Uint8Array): number {
  const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;
  return Math.abs(mean(frame) - mean(goal)) / 255;
}

describe("gpu/scorers: built-in scorer graphs", () => {
  let entry: CatalogEntry;
  let modelDir: string;
  let scorers: ScorerSessions;
  const geo = { height: H, width: W, actionDim: A, chunkSize: F };

  before(async () => {
    ({ entry, modelDir } = await tinyModel());
    scorers = await ScorerSessions.open({ modelDir, entry: withScorers(entry, { ...FRAME_SCORERS, latent: { builtin: "latent-mse" } }) }, geo, LATENT);
  });
  after(async () => scorers?.release());

  it("are byte-for-byte reproducible", () => {
    for (const spec of [...Object.values(FRAME_SCORERS), { builtin: "latent-mse" } as const]) {
      const [a, b] = [builtinScorerBytes(spec, geo, LATENT), builtinScorerBytes(spec, geo, LATENT)];
      assert.ok(a.length > 100 && Buffer.from(a).equals(Buffer.from(b)), spec.builtin);
    }
  });

  it("each frame scorer's cost equals the plain-JS formula on random frames (within 1e-5)", async () => {
    const n = 2;
    const frames = randomBytes(n * F * FB, 1);
    const goal = randomBytes(n * FB, 2);
    for (const [name, spec] of Object.entries(FRAME_SCORERS)) {
      const cost = await scorers.runFrames(scorers.get(name)!, frames, goal, n, F);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < F; j++) {
          const want = frameRef(spec, frameOf(frames, i, j), goal.subarray(i * FB, (i + 1) * FB));
          assert.ok(Math.abs(cost[i * F + j]! - want) <= 1e-5, `${name} lane ${i} frame ${j}: ${cost[i * F + j]} vs ${want}`);
        }
    }
  });

  it("latent-mse equals the mean squared difference of the latents (within 1e-5)", async () => {
    const n = 3;
    const state = Float32Array.from(randomActions(n * LATENT_SIZE, 3), (v) => v * 4);
    const goal = Float32Array.from(randomActions(n * LATENT_SIZE, 4), (v) => v * 4);
    const cost = await scorers.runLatent(scorers.get("latent")!, state, goal, n);
    for (let i = 0; i < n; i++) {
      let want = 0;
      for (let k = i * LATENT_SIZE; k < (i + 1) * LATENT_SIZE; k++) want += (state[k]! - goal[k]!) ** 2;
      want /= LATENT_SIZE;
      assert.ok(Math.abs(cost[i]! - want) <= 1e-5 * Math.max(1, want), `lane ${i}: ${cost[i]} vs ${want}`);
    }
  });

  it("a frame identical to the goal costs 0 (SSIM: within 1e-6)", async () => {
    const goal = randomBytes(FB, 5);
    const frames = new Uint8Array(F * FB);
    for (let j = 0; j < F; j++) frames.set(goal, j * FB);
    for (const [name, spec] of Object.entries(FRAME_SCORERS)) {
      const cost = await scorers.runFrames(scorers.get(name)!, frames, goal, 1, F);
      for (const c of cost) assert.ok(spec.builtin === "ssim" ? Math.abs(c) <= 1e-6 : c === 0, `${name}: ${c}`);
    }
    const latent = Float32Array.from(randomActions(LATENT_SIZE, 6));
    assert.equal((await scorers.runLatent(scorers.get("latent")!, latent, latent, 1))[0], 0);
  });

  it("lanes are independent: a lane scored alone and in a batch of four gets the same costs (within 1e-7)", async () => {
    const frames = randomBytes(4 * F * FB, 7);
    const goal = randomBytes(4 * FB, 8);
    for (const name of Object.keys(FRAME_SCORERS)) {
      const batched = await scorers.runFrames(scorers.get(name)!, frames, goal, 4, F);
      const alone = await scorers.runFrames(scorers.get(name)!, frames.slice(2 * F * FB, 3 * F * FB), goal.slice(2 * FB, 3 * FB), 1, F);
      for (let j = 0; j < F; j++) assert.ok(Math.abs(batched[2 * F + j]! - alone[j]!) <= 1e-7, `${name} frame ${j}`);
    }
  });

  it("per-frame costs order by distance to the goal (frame j is the goal blended j/F of the way to another image)", async () => {
    const [goal, other] = [await sampleScene(H, W), randomBytes(FB, 9)];
    const frames = new Uint8Array(F * FB);
    for (let j = 0; j < F; j++) for (let k = 0; k < FB; k++) frames[j * FB + k] = Math.round(goal[k]! + ((other[k]! - goal[k]!) * j) / F);
    for (const name of Object.keys(FRAME_SCORERS)) {
      const cost = await scorers.runFrames(scorers.get(name)!, frames, goal, 1, F);
      for (let j = 1; j < F; j++) assert.ok(cost[j]! > cost[j - 1]!, `${name}: frame ${j} (${cost[j]}) should cost more than frame ${j - 1} (${cost[j - 1]})`);
    }
  });
});

describe("gpu/scorers: catalog scorer fields", () => {
  let entry: CatalogEntry;
  before(async () => ({ entry } = await tinyModel()));

  const rejects = (scorers: unknown, field: RegExp) => assert.throws(() => validateEntry({ ...entry, scorers } as CatalogEntry), field);

  it("accepts built-ins and files, and the shipped catalog's entries", () => {
    validateEntry({ ...entry, scorers: { a: { builtin: "pixel-l2", downsample: 8 }, b: { builtin: "ssim", downsample: 2, window: 7 }, c: { builtin: "latent-mse" }, d: { file: "x/dino.onnx" } } });
    loadCatalog(join(__dirname, "..", "..", "gpu", "catalog.json"));
  });

  it("rejects bad scorers, naming the field", () => {
    rejects([], /scorers must be an object/);
    rejects({ "Bad Name": { builtin: "pixel-l2" } }, /scorers\.Bad Name name must be lowercase/);
    rejects({ a: { builtin: "pixel-l3" } }, /scorers\.a\.builtin must be one of pixel-l2, pixel-l1, ssim, latent-mse/);
    rejects({ a: { builtin: "pixel-l2", file: "x.onnx" } }, /scorers\.a needs exactly one of "builtin" and "file"/);
    rejects({ a: {} }, /scorers\.a needs exactly one/);
    rejects({ a: { builtin: "pixel-l2", downsample: 5 } }, /scorers\.a\.downsample must be an integer 1\.\.64 dividing both 48 and 64/);
    rejects({ a: { builtin: "pixel-l2", window: 7 } }, /scorers\.a\.window is not a field of the pixel-l2 scorer/);
    rejects({ a: { builtin: "latent-mse", downsample: 2 } }, /scorers\.a\.downsample is not a field of the latent-mse scorer/);
    rejects({ a: { builtin: "ssim", downsample: 8, window: 7 } }, /scorers\.a\.window must be an integer 1\.\.6/);
    rejects({ a: { file: "/abs/x.onnx" } }, /scorers\.a\.file must be a path relative/);
    rejects({ a: { file: "../x.onnx" } }, /scorers\.a\.file must be a path relative/);
    rejects({ a: { file: "x.onnx", downsample: 2 } }, /scorers\.a\.downsample is not a field of a file scorer/);
    rejects(Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`s${i}`, { builtin: "latent-mse" }])), /scorers has 9 entries, at most 8/);
  });
});

describe("gpu/scorers: scoring inside the runner's worker (tiny model)", () => {
  let entry: CatalogEntry;
  let runner: OrtRunner;
  let direct: ScorerSessions;
  let dir: string;
  let frame: Uint8Array;
  const steady = randomActions(A, 42);
  /** A chunk of one action repeated (a steady motion), scaled by `gain`, plus `eps` times a fixed perturbation. */
  const chunk = (gain: number, eps = 0) => {
    const out = new Float32Array(F * A);
    const delta = randomActions(F * A, 43);
    for (let k = 0; k < F * A; k++) out[k] = gain * steady[k % A]! + eps * delta[k]!;
    return out;
  };

  before(async () => {
    ({ entry } = await tinyModel());
    frame = await sampleScene(H, W);
    // A temp model dir and catalog: the tiny model, its shipped scorers, and a custom scorer file.
    dir = await mkdtemp(join(tmpdir(), "dream-scorers-"));
    await ensureReferenceModels(dir, { models: [entry] });
    await mkdir(join(dir, "custom"), { recursive: true });
    await writeFile(join(dir, "custom", "brightness.onnx"), brightnessScorer(DT.UINT8));
    await writeFile(join(dir, "custom", "brightness-f12.onnx"), brightnessScorer(DT.UINT8, F));
    const scorers = { ...entry.scorers, brightness: { file: "custom/brightness.onnx" }, "brightness-f12": { file: "custom/brightness-f12.onnx" } };
    await writeFile(join(dir, "catalog.json"), JSON.stringify({ models: [{ ...entry, scorers }] }));
    entry = loadCatalog(join(dir, "catalog.json")).models[0]!;
    runner = createRunner({ modelDir: dir, entry, chunkTimeoutMs: 60_000, warmLanes: 2 });
    await runner.load();
    direct = await ScorerSessions.open({ modelDir: dir, entry }, runner.geometry, LATENT);
  });
  after(async () => {
    await runner?.close();
    await direct?.release();
    await rm(dir, { recursive: true, force: true });
  });

  const scored = (l: StepLane, scorer: string, goalKey = "goal"): StepLane => ({ ...l, score: { scorer, goalKey } });

  it("loads the catalog's scorers and reports their kinds", () => {
    assert.deepEqual(runner.scorers, { "pixel-l2": "frames", "pixel-l1": "frames", ssim: "frames", latent: "latent", brightness: "frames", "brightness-f12": "frames" });
  });

  it("returns costs for exactly the lanes that asked, equal to scoring the returned frames", async () => {
    await runner.encode([{ stateKey: "s", frame }]);
    const goal = randomBytes(FB, 11);
    await runner.setGoal({ goalKey: "goal", frames: goal });
    const lanes = [scored(lane("s", "a", chunk(1)), "pixel-l2"), lane("s", "b", chunk(-1)), scored(lane("s", "c", chunk(0.5)), "ssim"), scored(lane("s", "d", chunk(0.2)), "brightness")];
    const r = await runner.step({ numSteps: 2, lanes });
    assert.ok(r.costs !== undefined && r.costs.length === 4 * F);
    assert.ok(r.costs.subarray(F, 2 * F).every(Number.isNaN), "lane b did not ask");
    for (const [i, name] of [[0, "pixel-l2"], [2, "ssim"], [3, "brightness"]] as const) {
      const want = await direct.runFrames(direct.get(name)!, r.frames.slice(i * F * FB, (i + 1) * F * FB), goal, 1, F);
      assert.deepEqual(Array.from(r.costs.subarray(i * F, (i + 1) * F)), Array.from(want), name);
      if (name === "brightness") for (let j = 0; j < F; j++) assert.ok(Math.abs(want[j]! - brightnessRef(frameOf(r.frames, 3, j), goal)) < 1e-5, "custom scorer formula");
    }
    const plain = await runner.step({ numSteps: 2, lanes: [lane("s", "e", chunk(1))] });
    assert.equal(plain.costs, undefined, "no lane asked: no costs");
    runner.release(["s", "a", "b", "c", "d", "e"]);
  });

  it("per-frame goals: a lane reproducing the goal trajectory costs 0 on every frame", async () => {
    await runner.encode([{ stateKey: "t", frame }]);
    const ref = await runner.step({ numSteps: 2, lanes: [lane("t", "t0", chunk(1))] });
    await runner.setGoal({ goalKey: "traj", frames: ref.frames });
    const r = await runner.step({ numSteps: 2, lanes: [scored(lane("t", "t1", chunk(1)), "pixel-l2", "traj"), scored(lane("t", "t2", chunk(-1)), "pixel-l2", "traj")] });
    assert.deepEqual(Array.from(r.costs!.subarray(0, F)), new Array(F).fill(0));
    assert.ok(r.costs!.subarray(F).every((c) => c > 0));
    // A scorer with F fixed takes single goals but not a trajectory (F cannot fold into B); refused before the step runs.
    const chunks = runner.chunksExecuted;
    const fixed = await runner.step({ numSteps: 2, lanes: [scored(lane("t", "t3", chunk(1)), "brightness-f12", "goal")] });
    assert.ok(fixed.costs!.every(Number.isFinite));
    await assert.rejects(runner.step({ numSteps: 2, lanes: [scored(lane("t", "t3", chunk(1)), "brightness-f12", "traj")] }), /fixes its frame dimension, so it cannot take per-frame goals/);
    assert.equal(runner.chunksExecuted, chunks + 1);
    runner.releaseGoal(["traj"]);
    runner.release(["t", "t0", "t1", "t2", "t3"]);
  });

  it("the latent scorer ranks candidates like pixel L2 (goal: the frame reached by actions A; candidates A + growing perturbation)", async () => {
    await runner.encode([{ stateKey: "m", frame }]);
    const ref = await runner.step({ numSteps: 4, lanes: [lane("m", "m/ref", chunk(1))] });
    await runner.setGoal({ goalKey: "end", frames: ref.frames.slice((F - 1) * FB, F * FB) });
    const eps = [0, 0.3, 0.6, 1.2, 2.4];
    const lanes = eps.flatMap((e, i) => [scored(lane("m", `m/p${i}`, chunk(1, e)), "pixel-l2", "end"), scored(lane("m", `m/l${i}`, chunk(1, e)), "latent", "end")]);
    const r = await runner.step({ numSteps: 4, lanes });
    const pixel = eps.map((_, i) => r.costs![2 * i * F + F - 1]!); // the chunk's last frame
    const latent = eps.map((_, i) => r.costs![(2 * i + 1) * F]!);
    eps.forEach((_, i) => assert.ok(r.costs!.subarray((2 * i + 1) * F, (2 * i + 2) * F).every((c) => c === latent[i]), "a latent row repeats its chunk-end cost"));
    // Strictly increasing in the perturbation for both, so both give the same ranking (ties would hide a flat scorer).
    const increasing = (xs: number[]) => xs.every((x, i) => i === 0 || x > xs[i - 1]!);
    assert.equal(pixel[0], 0, "candidate A reproduces the goal frame");
    assert.ok(increasing(pixel), `pixel costs ${pixel}`);
    assert.ok(increasing(latent), `latent costs ${latent}`);
    runner.releaseGoal(["end"]);
    runner.release(["m", "m/ref", ...lanes.map((l) => l.outStateKey)]);
  });

  it("a step queued right behind setGoal, before its reply, scores against that goal (a planner does not wait for the goal)", async () => {
    await runner.encode([{ stateKey: "q", frame }]);
    const goal = randomBytes(FB, 12);
    const goalSet = runner.setGoal({ goalKey: "queued", frames: goal });
    const r = await runner.step({ numSteps: 2, lanes: [scored(lane("q", "q1", chunk(1)), "pixel-l2", "queued")] });
    await goalSet;
    const want = await direct.runFrames(direct.get("pixel-l2")!, r.frames, goal, 1, F);
    assert.deepEqual(Array.from(r.costs!), Array.from(want));
    runner.releaseGoal(["queued"]);
    runner.release(["q", "q1"]);
  });

  it("goals survive a worker restart (replayed), latent states do not", async () => {
    await runner.injectFault({ kind: "crash" });
    await runner.encode([{ stateKey: "x", frame }]);
    await assert.rejects(runner.step({ numSteps: 1, lanes: [lane("x", "x", chunk(1))] }), (e: unknown) => e instanceof ServiceError && e.reason === "ENGINE_FAILURE");
    await runner.encode([{ stateKey: "x", frame }]);
    const r = await runner.step({ numSteps: 1, lanes: [scored(lane("x", "x", chunk(1)), "latent")] });
    assert.ok(r.costs!.every((c) => Number.isFinite(c) && c > 0));
    runner.release(["x"]);
  });

  it("a custom scorer whose goal input has the wrong dtype fails the load, naming the tensor", async () => {
    await writeFile(join(dir, "custom", "bad.onnx"), brightnessScorer(DT.FLOAT));
    const bad = withScorers(entry, { bad: { file: "custom/bad.onnx" } });
    const r = createRunner({ modelDir: dir, entry: bad, chunkTimeoutMs: 60_000, warmLanes: 1 });
    try {
      await assert.rejects(r.load(), (e: unknown) => e instanceof ServiceError && e.reason === "MODEL_UNAVAILABLE" && /input "goal" has dtype float32, expected uint8/.test(e.message) && e.details.name === "goal");
      assert.equal(r.state, "failed");
    } finally {
      await r.close();
    }
  });

  it("a custom scorer without a cost output fails the load, naming the tensor", async () => {
    const g = new GraphBuilder("test_no_cost");
    const frames = g.input("frames", DT.UINT8, ["B", "F", H, W, 3]);
    g.input("goal", DT.UINT8, ["B", H, W, 3]);
    g.output("score", DT.FLOAT, ["B", "F"], g.o("ReduceMean", [g.o("Cast", [frames], { to: attr.i(DT.FLOAT) }), g.i64("axes", [3], [2, 3, 4])], { keepdims: attr.i(0) }));
    await writeFile(join(dir, "custom", "no-cost.onnx"), encodeModel(g.build(), { irVersion: 10, opset: 21, producerName: "test", producerVersion: "1", docString: "", metadata: {} }));
    const r = createRunner({ modelDir: dir, entry: withScorers(entry, { nocost: { file: "custom/no-cost.onnx" } }), chunkTimeoutMs: 60_000, warmLanes: 1 });
    try {
      await assert.rejects(r.load(), (e: unknown) => e instanceof ServiceError && e.reason === "MODEL_UNAVAILABLE" && /output "cost" is missing/.test(e.message) && e.details.name === "cost");
    } finally {
      await r.close();
    }
  });
});
