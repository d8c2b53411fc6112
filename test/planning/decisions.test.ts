// The decisions taken between chunks and iterations: cost aggregation, pruning at chunk boundaries,
// frame caps and the anytime budget — numbers in, decision out, with a fake clock where time matters.
import assert from "node:assert/strict";
import { aggregateCost, frameWeights, partialCost } from "../../src/planning/aggregate";
import { framesForMicros, iterationsWithin, startAnotherIteration, worstCaseFrames } from "../../src/planning/budget";
import { framesWithHalving, pruneAtBoundary } from "../../src/planning/halving";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

describe("planning/aggregate", () => {
  it("final weighs only the last frame; mean all generated frames equally; the conditioning frame never", () => {
    assert.deepEqual([...frameWeights({ kind: "final" }, 4)], [0, 0, 0, 1]);
    assert.deepEqual([...frameWeights({ kind: "mean" }, 5)], [0, 0.25, 0.25, 0.25, 0.25]);
    assert.deepEqual([...frameWeights({ kind: "mean" }, 1)], [1]);
  });

  it("discounted weights fall by gamma per frame and sum to 1; gamma 1 is the mean", () => {
    const w = frameWeights({ kind: "discounted", gamma: 0.5 }, 4);
    close(w[2]! / w[1]!, 0.5);
    close(w[3]! / w[2]!, 0.5);
    close(w.reduce((a, b) => a + b, 0), 1);
    assert.deepEqual([...frameWeights({ kind: "discounted", gamma: 1 }, 5)], [...frameWeights({ kind: "mean" }, 5)]);
  });

  it("aggregates a candidate's per-frame costs; a prefix compares fairly at a chunk boundary", () => {
    close(aggregateCost([9, 4, 2, 0], frameWeights({ kind: "mean" }, 4)), 2);
    assert.equal(partialCost([9, 4, 2], { kind: "final" }), 2);
    close(partialCost([9, 4, 2], { kind: "mean" }), 3);
    assert.equal(partialCost([], { kind: "mean" }), Infinity);
  });
});

describe("planning/halving", () => {
  const halve = { dropFraction: 0.5, keepMin: 1 };

  it("stops the worst half of the live candidates, ties stopping the later one, a NaN cost stopped first", () => {
    const live = new Map([
      [0, 5],
      [1, 1],
      [2, NaN],
      [3, 5],
      [4, 0],
      [5, 2],
    ]);
    assert.deepEqual(pruneAtBoundary(live, halve), [0, 2, 3]);
  });

  it("never goes under keepMin, and keeps everything when nothing would be dropped", () => {
    assert.deepEqual(pruneAtBoundary(new Map([[0, 1], [1, 2], [2, 3]]), { dropFraction: 0.9, keepMin: 2 }), [2]);
    assert.deepEqual(pruneAtBoundary(new Map([[7, 1]]), halve), []);
    assert.deepEqual(pruneAtBoundary(new Map([[0, 1], [1, 2]]), { dropFraction: 0.5, keepMin: 2 }), []);
  });

  it("framesWithHalving counts exactly the frames a simulated halving run generates", () => {
    for (const [k, chunks, h] of [
      [8, 4, halve],
      [7, 3, halve],
      [32, 5, { dropFraction: 0.25, keepMin: 3 }],
      [2, 4, { dropFraction: 0.5, keepMin: 2 }],
    ] as const) {
      let live = new Map(Array.from({ length: k }, (_, i) => [i, 0] as [number, number]));
      let frames = k;
      for (let c = 0; c < chunks; c++) {
        frames += live.size * 12;
        live = new Map([...live].map(([i]) => [i, (i * 7919) % 13] as [number, number]));
        if (c < chunks - 1) for (const i of pruneAtBoundary(live, h)) live.delete(i);
      }
      assert.equal(framesWithHalving(k, chunks, 12, h), frames, `K=${k} chunks=${chunks}`);
    }
    assert.equal(framesWithHalving(8, 4, 12, halve), 8 + 12 * (8 + 4 + 2 + 1));
  });
});

describe("planning/budget", () => {
  const c = { candidates: 8, framesPerCandidate: 49 };

  it("worst case and the iterations a frame cap allows", () => {
    assert.equal(worstCaseFrames(c, 3), 3 * 8 * 49);
    assert.equal(iterationsWithin(c, 10, undefined), 10);
    assert.equal(iterationsWithin(c, 10, 3 * 392 + 391), 3);
    assert.equal(iterationsWithin(c, 2, 100_000), 2);
    assert.equal(iterationsWithin(c, 10, 100), 0);
  });

  it("a USD cap becomes a frame cap rounded down", () => {
    assert.equal(framesForMicros(196_000, 500), 392);
    assert.equal(framesForMicros(196_499, 500), 392);
  });

  it("anytime: the first iteration always runs; later ones only if the slowest so far still fits", () => {
    let nowUs = 0; // fake clock
    const endUs = 1_000_000;
    assert.equal(startAnotherIteration(nowUs, endUs, 0, 0), true);
    nowUs = 400_000;
    assert.equal(startAnotherIteration(nowUs, endUs, 1, 400_000), true);
    nowUs = 800_000;
    assert.equal(startAnotherIteration(nowUs, endUs, 2, 400_000), false);
    assert.equal(startAnotherIteration(5_000_000, endUs, 0, 400_000), true, "even a budget already spent runs one iteration");
    assert.equal(startAnotherIteration(5_000_000, undefined, 9, 400_000), true, "no budget: the iteration count decides");
  });
});
