import { strict as assert } from "node:assert";
import { ServiceError } from "../../src/core/errors";
import { CUDA_INSTALL_COMMAND, parseExecutionProvider } from "../../gpu/ep";
import { createRunner } from "../../gpu/runner";
import { ModelSessions } from "../../gpu/sessions";
import { lane, tinyModel } from "./helpers";

describe("gpu/ep: execution provider choice", () => {
  it("parses cpu, cuda and cuda:N; rejects anything else", () => {
    assert.deepEqual(parseExecutionProvider(undefined), { kind: "cpu" });
    assert.deepEqual(parseExecutionProvider("CPU"), { kind: "cpu" });
    assert.deepEqual(parseExecutionProvider("cuda"), { kind: "cuda", deviceId: 0 });
    assert.deepEqual(parseExecutionProvider("cuda:3"), { kind: "cuda", deviceId: 3 });
    for (const bad of ["gpu", "cuda:", "cuda:x", "tensorrt"]) assert.throws(() => parseExecutionProvider(bad), /expected "cpu", "cuda" or "cuda:N"/);
    assert.throws(() => createRunner({ modelDir: "/nonexistent", entry: {} as never, executionProvider: "gpu", chunkTimeoutMs: 1000 }));
  });

  it("cuda:0 fails fast at load on this CUDA-less host, saying what is missing and how to opt in", async () => {
    const { entry, modelDir } = await tinyModel();
    const runner = createRunner({ modelDir, entry, executionProvider: "cuda:0", chunkTimeoutMs: 10_000 });
    const err = await runner.load().then(
      () => assert.fail("load() must reject"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServiceError);
    assert.equal(err.reason, "MODEL_UNAVAILABLE");
    assert.match(err.message, /cuda:0/);
    // Named by the pre-check (missing files in ORT's native folder), i.e. before any worker or session exists.
    assert.match(err.message, /missing libonnxruntime_providers_shared\.so/);
    assert.ok(err.message.includes(CUDA_INSTALL_COMMAND), err.message);
    assert.match(err.message, /no automatic fallback to CPU/);
    assert.equal(runner.state, "failed");
    await assert.rejects(runner.step({ numSteps: 1, lanes: [lane("a", "b", new Float32Array(12 * 384))] }), (e: unknown) => e instanceof ServiceError && e.reason === "ENGINE_FAILURE");
    await runner.close();
    // The in-process path refuses the same way.
    await assert.rejects(ModelSessions.open({ modelDir, entry, executionProvider: "cuda" }), /libonnxruntime_providers_shared\.so/);
  });
});
