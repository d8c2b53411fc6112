// Runner isolation: faults injected inside the worker thread, and the automatic restart.
import { strict as assert } from "node:assert";
import type { CatalogEntry } from "../../src/config/catalog";
import { ServiceError } from "../../src/core/errors";
import { createRunner, type OrtRunner, type RunnerState } from "../../gpu/runner";
import { sampleScene } from "../../gpu/tools/samples";
import { lane, randomActions, tinyModel } from "./helpers";

const isEngineFailure = (pattern?: RegExp) => (e: unknown) => e instanceof ServiceError && e.reason === "ENGINE_FAILURE" && (pattern === undefined || pattern.test(e.message));

describe("gpu/runner: fault isolation and auto-restart (tiny model)", () => {
  let entry: CatalogEntry;
  let modelDir: string;
  let frame: Uint8Array;
  const acts = () => randomActions(12 * 384, 9);
  const runners: OrtRunner[] = [];

  before(async () => {
    ({ entry, modelDir } = await tinyModel());
    frame = await sampleScene(48, 64);
  });
  after(async () => {
    for (const r of runners) await r.close();
  });

  async function start(chunkTimeoutMs = 60_000): Promise<{ runner: OrtRunner; states: RunnerState[] }> {
    const states: RunnerState[] = [];
    const runner = createRunner({ modelDir, entry, chunkTimeoutMs, onStateChange: (s) => states.push(s) });
    runners.push(runner);
    await runner.load();
    return { runner, states };
  }

  it("throw: the step rejects with ENGINE_FAILURE, the worker and its states survive", async () => {
    const { runner } = await start();
    await runner.encode([{ stateKey: "r", frame }]);
    await runner.injectFault({ kind: "throw" });
    await assert.rejects(runner.step({ numSteps: 1, lanes: [lane("r", "r/0", acts())] }), isEngineFailure(/injected fault/));
    assert.equal(runner.restarts, 0);
    assert.equal(runner.state, "idle");
    const ok = await runner.step({ numSteps: 1, lanes: [lane("r", "r/0", acts())] });
    assert.equal(ok.frames.length, 12 * 48 * 64 * 3);
  });

  it("atStep: the fault fires on a later step, not the next one", async () => {
    const { runner } = await start();
    await runner.encode([{ stateKey: "r", frame }]);
    await runner.injectFault({ kind: "throw", atStep: 1 });
    await runner.step({ numSteps: 1, lanes: [lane("r", "r/0", acts())] });
    await assert.rejects(runner.step({ numSteps: 1, lanes: [lane("r/0", "r/0", acts(), 0n, 1)] }), isEngineFailure());
  });

  it("crash: process.exit() in the worker rejects every pending call, loses all states, and the runner restarts", async () => {
    const { runner, states } = await start();
    await runner.encode([{ stateKey: "r", frame }]);
    await runner.step({ numSteps: 1, lanes: [lane("r", "r/0", acts())] });
    await runner.injectFault({ kind: "crash" });
    const pending = [
      runner.step({ numSteps: 1, lanes: [lane("r/0", "r/0", acts(), 0n, 1)] }),
      runner.step({ numSteps: 1, lanes: [lane("r/0", "r/0", acts(), 0n, 2)] }),
    ];
    const errors = await Promise.all(pending.map((p) => p.then(() => null, (e: unknown) => e)));
    for (const e of errors) assert.ok(isEngineFailure(/exited with code 70/)(e), String(e));
    const first = errors[0] as ServiceError;
    assert.equal(first.details["statesLost"], 2, "r and r/0 were lost");
    assert.equal(runner.restarts, 1);
    assert.equal(runner.statesLost, 2);

    // The next call waits for the replacement worker (reloaded + warmed) and succeeds.
    await runner.encode([{ stateKey: "r2", frame }]);
    const ok = await runner.step({ numSteps: 1, lanes: [lane("r2", "r2/0", acts())] });
    assert.equal(ok.frames.length, 12 * 48 * 64 * 3);
    assert.ok(states.includes("restarting"));
    assert.equal(runner.state, "idle");
    // States from before the crash are gone.
    await assert.rejects(runner.step({ numSteps: 1, lanes: [lane("r/0", "r/0", acts(), 0n, 1)] }), isEngineFailure(/r\/0/));
  });

  it("hang: a step past chunkTimeoutMs abandons the worker (it exits on its lifeline), rejects, and the runner restarts", async () => {
    const { runner, states } = await start(2_000);
    await runner.encode([{ stateKey: "r", frame }]);
    await runner.injectFault({ kind: "hang" });
    await assert.rejects(runner.step({ numSteps: 1, lanes: [lane("r", "r/0", acts())] }), isEngineFailure(/chunkTimeoutMs=2000/));
    assert.equal(runner.restarts, 1);
    assert.equal(states.at(-1), "restarting");
    await runner.encode([{ stateKey: "r", frame }]);
    const ok = await runner.step({ numSteps: 1, lanes: [lane("r", "r/0", acts())] });
    assert.equal(ok.frames.length, 12 * 48 * 64 * 3);
    assert.equal(runner.state, "idle");
  });

  it("more restarts than the per-minute budget leave the runner failed", async () => {
    const states: RunnerState[] = [];
    const runner = createRunner({ modelDir, entry, chunkTimeoutMs: 60_000, restartsPerMinuteMax: 1, onStateChange: (s) => states.push(s) });
    runners.push(runner);
    await runner.load();
    for (let i = 0; i < 2; i++) {
      await runner.encode([{ stateKey: "r", frame }]);
      await runner.injectFault({ kind: "crash" });
      await assert.rejects(runner.step({ numSteps: 1, lanes: [lane("r", "r/0", acts())] }), isEngineFailure());
    }
    assert.equal(runner.state, "failed");
    assert.equal(runner.restarts, 2);
    await assert.rejects(runner.encode([{ stateKey: "r", frame }]), isEngineFailure(/restarts in a minute/));
  });

  it("close() rejects queued calls and later ones", async () => {
    const { runner } = await start();
    await runner.encode([{ stateKey: "r", frame }]);
    await runner.injectFault({ kind: "hang" });
    const hung = runner.step({ numSteps: 1, lanes: [lane("r", "r/0", acts())] }).then(() => null, (e: unknown) => e);
    await runner.close();
    const err = await hung;
    assert.ok(err instanceof ServiceError && err.reason === "UNAVAILABLE", String(err));
    await assert.rejects(runner.encode([{ stateKey: "r", frame }]), (e: unknown) => e instanceof ServiceError && e.reason === "UNAVAILABLE");
  });
});
