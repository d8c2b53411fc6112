// Scoring through the scheduler: a request that asks for a score has every lane scored in the
// executor, next to its frames, and each delivered lane carries its frames' costs; other requests in
// the same batch are not scored. Fake executor, fake clock.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { makeRequest, RecordingSink, settle } from "./fakes";
import { harness } from "./harness";

const SCORE = { scorer: "pixel-l2", goalKey: "goal-1" };

async function scoringHarness() {
  const h = harness();
  h.exec.scorers = { "pixel-l2": "frames", latent: "latent" };
  await h.scheduler.setGoal({ goalKey: "goal-1", frames: new Uint8Array(12) });
  const submitScored = (id: string, o: Parameters<typeof makeRequest>[2]): RecordingSink => {
    const sink = new RecordingSink(id);
    h.scheduler.submit({ ...makeRequest(h.geometry, id, o), score: SCORE }, sink);
    return sink;
  };
  return { h, submitScored };
}

const rounded = (costs: Float32Array | undefined): number[] => [...costs!].map((x) => Math.round(x * 1000) / 1000);

describe("scheduler: scored requests", () => {
  it("each lane's costs are the executor's for that lane and chunk, trimmed like its frames on a partial last chunk", async () => {
    const { h, submitScored } = await scoringHarness();
    const scored = submitScored("s", { k: 2, t: 6, tagBase: 500 }); // chunkSize 4: chunks of 4 and 2 frames
    const plain = h.submit("p", { k: 1, t: 6 }); // shares the batches
    await settle();
    assert.equal(scored.end.reason, "completed");
    assert.deepEqual(
      scored.chunks.map((c) => c.lanes.map((l) => rounded(l.costs))),
      [
        [
          [500, 500.001, 500.002, 500.003],
          [501, 501.001, 501.002, 501.003],
        ],
        [
          [500.01, 500.011],
          [501.01, 501.011],
        ],
      ],
    );
    for (const c of scored.chunks) for (const l of c.lanes) assert.equal(l.costs!.length, l.frames.length);
    assert.ok(plain.chunks.length > 0 && plain.chunks.every((c) => c.lanes.every((l) => l.costs === undefined)), "an unscored request gets no costs");
    assert.ok(h.exec.steps.some((s) => s.lanes.length === 3), "scored and unscored lanes shared a step");
    const askedToScore = h.exec.steps.flatMap((s) => s.lanes.filter((l) => l.score).map((l) => l.laneTag));
    assert.deepEqual([...new Set(askedToScore)].sort(), [500, 501], "only the scored request's lanes asked the executor");
    h.scheduler.releaseGoal(["goal-1"]);
    assert.equal(h.exec.goals.size, 0);
    h.clean();
  });

  it("lastChunkOnly scores only the final chunk: earlier chunks come without costs and the executor is not asked", async () => {
    const { h } = await scoringHarness();
    const sink = new RecordingSink("l");
    h.scheduler.submit({ ...makeRequest(h.geometry, "l", { k: 2, t: 10, tagBase: 700 }), score: { ...SCORE, lastChunkOnly: true } }, sink); // chunks 0, 1, 2
    await settle();
    assert.equal(sink.end.reason, "completed");
    assert.deepEqual(sink.chunks.map((c) => c.lanes.map((l) => l.costs === undefined)), [[true, true], [true, true], [false, false]]);
    assert.deepEqual(rounded(sink.chunks[2]!.lanes[0]!.costs), [700.02, 700.021]);
    assert.deepEqual(h.exec.steps.map((s) => s.lanes.some((l) => l.score)), [false, false, true]);
    h.scheduler.releaseGoal(["goal-1"]);
    h.clean();
  });

  it("refuses a scorer the model does not have, naming the field and the scorers it has", async () => {
    const { h } = await scoringHarness();
    assert.throws(
      () => h.scheduler.submit({ ...makeRequest(h.geometry, "x"), score: { scorer: "dino", goalKey: "goal-1" } }, new RecordingSink("x")),
      (e: unknown) => e instanceof ServiceError && e.reason === "INVALID_ARGUMENT" && e.details.field === "cost.scorer" && /pixel-l2, latent/.test(e.message),
    );
    assert.deepEqual(h.scheduler.scorers, { "pixel-l2": "frames", latent: "latent" });
  });

  it("a step that asked for scores and returned none fails the request as an engine failure", async () => {
    const { h, submitScored } = await scoringHarness();
    h.exec.returnCosts = false;
    const sink = submitScored("f", { k: 2, t: 4 });
    await settle();
    assert.equal(sink.end.reason, "failed");
    assert.equal(sink.end.error?.reason, "ENGINE_FAILURE");
    h.scheduler.releaseGoal(["goal-1"]);
    h.clean();
  });
});
