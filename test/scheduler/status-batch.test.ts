// mean_batch_size in the status windows is lanes per engine step, reported by the scheduler for every
// step call: two K=2 requests that the engine batches together give 4, not the requests' K of 2.
import assert from "node:assert/strict";
import { StatusRecorder } from "../../src/observability/status";
import { harness } from "./harness";
import { settle } from "./fakes";

describe("scheduler → status: mean batch size is the engine's lanes per step", () => {
  it("two concurrent K=2 requests batched together: mean 4 lanes per step; a lone K=2 afterwards moves it toward 2", async () => {
    let status!: StatusRecorder;
    const h = harness({ onStep: (lanes) => status.recordBatch("test-model", lanes) });
    status = new StatusRecorder(h.clock);
    const record = () => status.record("test-model", { latencyMs: 1, error: false, batchLanes: 2 });

    const a = h.submit("a", { k: 2, t: 8 });
    const b = h.submit("b", { k: 2, t: 8 });
    await settle();
    assert.equal(a.end.reason, "completed");
    assert.equal(b.end.reason, "completed");
    record();
    record();
    assert.deepEqual(h.exec.steps.map((s) => s.lanes.length), [4, 4], "the engine ran both requests in one batch per chunk");
    for (const snapshot of [status.overall.snapshot(), status.model("test-model").snapshot()]) {
      assert.deepEqual(snapshot.map((w) => w.meanBatchSize), [4, 4, 4]);
      assert.deepEqual(snapshot.map((w) => w.requests), [2, 2, 2]);
    }

    const c = h.submit("c", { k: 2, t: 8 });
    await settle();
    assert.equal(c.end.reason, "completed");
    record();
    assert.deepEqual(h.exec.steps.map((s) => s.lanes.length), [4, 4, 2, 2]);
    assert.equal(status.overall.snapshot()[0]!.meanBatchSize, 3, "(4+4+2+2) lanes / 4 steps");
    h.clean();
  });

  it("no step in the window: mean batch size is absent, not 0", () => {
    const status = new StatusRecorder(harness().clock);
    status.record("m", { latencyMs: 5, error: true, batchLanes: 3 });
    assert.equal(status.overall.snapshot()[0]!.meanBatchSize, undefined);
    assert.equal(status.overall.snapshot()[0]!.requests, 1);
  });
});
