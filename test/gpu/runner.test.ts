// OrtRunner through its worker thread, on the tiny model.
import { strict as assert } from "node:assert";
import { MessageChannel } from "node:worker_threads";
import type { CatalogEntry } from "../../src/config/catalog";
import { ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";
import { DirectModel } from "../../gpu/direct";
import { NoiseCache, packStep } from "../../gpu/packing";
import { createRunner, type OrtRunner, type RunnerState } from "../../gpu/runner";
import { ModelSessions } from "../../gpu/sessions";
import { sampleScene } from "../../gpu/tools/samples";
import { bytesEqual, lane, randomActions, tinyModel } from "./helpers";

describe("gpu/runner: OrtRunner in a worker thread (tiny model)", () => {
  let entry: CatalogEntry;
  let modelDir: string;
  let runner: OrtRunner;
  const states: RunnerState[] = [];
  let frame: Uint8Array;
  const [H, W, T, A] = [48, 64, 12, 384];
  const FB = H * W * 3;
  const CHUNK = T * FB;

  before(async () => {
    ({ entry, modelDir } = await tinyModel());
    frame = await sampleScene(H, W);
    runner = createRunner({ modelDir, entry, chunkTimeoutMs: 60_000, onStateChange: (s) => states.push(s) });
    assert.equal(runner.state, "loading");
    await runner.load();
  });
  after(async () => runner?.close());

  it("loads and warms in a worker, then reports idle", () => {
    assert.equal(runner.state, "idle");
    assert.deepEqual(runner.geometry, { height: H, width: W, actionDim: A, chunkSize: T });
    assert.equal(runner.restarts, 0);
  });

  it("encodes and steps through the worker, matching the in-process path byte for byte", async () => {
    const actions = randomActions(2 * T * A, 11);
    await runner.encode([{ stateKey: "r1", frame }]);
    const before = runner.chunksExecuted;
    const c0 = await runner.step({ numSteps: 4, lanes: [lane("r1", "r1/0", actions.slice(0, T * A), 5n, 0)] });
    const c1 = await runner.step({ numSteps: 4, lanes: [lane("r1/0", "r1/0", actions.slice(T * A), 5n, 1)] });
    assert.equal(runner.chunksExecuted, before + 2);
    assert.equal(c0.frames.length, CHUNK);
    assert.ok(c0.computeUs > 0);
    assert.ok(states.includes("busy") && states.at(-1) === "idle");

    const direct = await DirectModel.open(modelDir, entry);
    try {
      const d = await direct.run({ k: 1, t: 2 * T, numSteps: 4, seed: 5n, frame, actions });
      assert.ok(bytesEqual(c0.frames, d.frames.subarray(FB, FB + CHUNK)), "chunk 0");
      assert.ok(bytesEqual(c1.frames, d.frames.subarray(FB + CHUNK)), "chunk 1");
    } finally {
      await direct.close();
    }
    runner.release(["r1", "r1/0"]);
  });

  it("batch-composition invariance: lanes of two requests in one step get the frames they get alone", async () => {
    const other = new Uint8Array(frame).reverse(); // a different start frame
    await runner.encode([
      { stateKey: "a", frame },
      { stateKey: "b", frame: other },
    ]);
    const aActs = [randomActions(T * A, 21), randomActions(T * A, 22)];
    const bActs = randomActions(T * A, 23);
    const aLanes = (suffix: string) => aActs.map((x, i) => lane("a", `a${i}${suffix}`, x, 1n, 0, 1));
    const bLane = (suffix: string) => lane("b", `b0${suffix}`, bActs, 2n, 0, 2.5);

    const alone = [await runner.step({ numSteps: 3, lanes: aLanes("/alone") }), await runner.step({ numSteps: 3, lanes: [bLane("/alone")] })];
    const mixed = await runner.step({ numSteps: 3, lanes: [aLanes("/mixed")[0]!, bLane("/mixed"), aLanes("/mixed")[1]!] });
    assert.ok(bytesEqual(mixed.frames.subarray(0, CHUNK), alone[0]!.frames.subarray(0, CHUNK)), "a0");
    assert.ok(bytesEqual(mixed.frames.subarray(CHUNK, 2 * CHUNK), alone[1]!.frames), "b0");
    assert.ok(bytesEqual(mixed.frames.subarray(2 * CHUNK), alone[0]!.frames.subarray(CHUNK)), "a1");

    // The scattered next states are invariant too: the following chunk agrees as well.
    const next = (suffix: string, i: number) => lane(`a${i}${suffix}`, `a${i}${suffix}`, randomActions(T * A, 30 + i), 1n, 1);
    const aloneNext = await runner.step({ numSteps: 3, lanes: [next("/alone", 1)] });
    const mixedNext = await runner.step({ numSteps: 3, lanes: [lane("b0/mixed", "b0/mixed", bActs, 2n, 1), next("/mixed", 1)] });
    assert.ok(bytesEqual(mixedNext.frames.subarray(CHUNK), aloneNext.frames));
    runner.release(["a", "b", "a0/alone", "a1/alone", "b0/alone", "a0/mixed", "a1/mixed", "b0/mixed"]);
  });

  it("returns frames that own their whole buffer (transferred from the worker, not a view)", async () => {
    await runner.encode([{ stateKey: "z", frame }]);
    const r = await runner.step({ numSteps: 1, lanes: [lane("z", "z", randomActions(T * A, 1))] });
    assert.equal(r.frames.byteOffset, 0);
    assert.equal(r.frames.buffer.byteLength, r.frames.byteLength);
    runner.release(["z"]);
  });

  it("ORT's output buffers are transferable, so the worker hands frames over without a copy", async () => {
    const sessions = await ModelSessions.open({ modelDir, entry });
    try {
      const state = await sessions.encode(frame, 1);
      const out = await sessions.step(packStep([lane("s", "s", randomActions(T * A, 2))], new Map([["s", state]]), { latentSize: sessions.latentSize, chunkSize: T, actionDim: A }, new NoiseCache(sessions.latentSize)), 1);
      const { port1, port2 } = new MessageChannel();
      const received = new Promise<Uint8Array>((resolve) => port2.once("message", resolve));
      port1.postMessage(out.frames, [out.frames.buffer as ArrayBuffer]);
      assert.equal(out.frames.buffer.byteLength, 0, "the sender's buffer is detached: moved, not copied");
      assert.equal((await received).length, CHUNK);
      port1.close();
      port2.close();
    } finally {
      await sessions.release();
    }
  });

  it("a step on a released (or unknown) state rejects with ENGINE_FAILURE and the runner carries on", async () => {
    await runner.encode([{ stateKey: "gone", frame }]);
    runner.release(["gone"]);
    await assert.rejects(runner.step({ numSteps: 1, lanes: [lane("gone", "x", randomActions(T * A, 3))] }), (e: unknown) => {
      return e instanceof ServiceError && e.reason === "ENGINE_FAILURE" && /gone/.test(e.message);
    });
    assert.equal(runner.state, "idle");
    assert.equal(runner.restarts, 0);
    await runner.encode([{ stateKey: "ok", frame }]);
    await runner.step({ numSteps: 1, lanes: [lane("ok", "ok", randomActions(T * A, 4))] });
    runner.release(["ok"]);
  });

  it("encodes more frames than encodeConcurrencyMax in one call (in slices), each under its own key", async () => {
    const items = Array.from({ length: limits.encodeConcurrencyMax + 2 }, (_, i) => ({ stateKey: `many/${i}`, frame: i === 0 ? frame : new Uint8Array(FB).fill(i * 20) }));
    await runner.encode(items);
    const acts = randomActions(T * A, 6);
    const r = await runner.step({ numSteps: 1, lanes: [lane("many/0", "m0", acts), lane(`many/${items.length - 1}`, "m1", acts)] });
    assert.ok(!bytesEqual(r.frames.subarray(0, CHUNK), r.frames.subarray(CHUNK)), "different frames, different states");
    runner.release([...items.map((i) => i.stateKey), "m0", "m1"]);
  });

  it("serializes concurrent calls in order", async () => {
    await runner.encode([{ stateKey: "c", frame }]);
    const acts = randomActions(T * A, 5);
    const sequential = await runner.step({ numSteps: 2, lanes: [lane("c", "c/seq", acts)] });
    const results = await Promise.all([1, 2, 3].map((i) => runner.step({ numSteps: 2, lanes: [lane("c", `c/${i}`, acts)] })));
    for (const r of results) assert.ok(bytesEqual(r.frames, sequential.frames));
    runner.release(["c", "c/seq", "c/1", "c/2", "c/3"]);
  });
});
