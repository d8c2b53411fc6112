// Priority classes on the real runner (tiny model, CPU): batch lanes paused for interactive work keep
// their latent states in the worker, evicted ones are recomputed from the start frame, and either way
// the batch request's frames are byte-identical to an uninterrupted run, each delivered (billed) once.
import assert from "node:assert/strict";
import { createRunner, type OrtRunner } from "../../gpu/runner";
import type { CatalogEntry } from "../../src/config/catalog";
import { ModelScheduler } from "../../src/scheduler";
import type { ChunkEvent, EndEvent } from "../../src/scheduler/request";
import { testFrame } from "../e2e/harness";
import { randomActions, tinyModel } from "./helpers";

const K = 4;
const T = 240; // 20 chunks: the worker runs ahead of the deliveries, so arrivals must come well before the end

describe("gpu/priority: paused and evicted batch lanes on the ORT runner (tiny model)", function () {
  this.timeout(120_000);
  let entry: CatalogEntry;
  let runner: OrtRunner;

  before(async () => {
    const tiny = await tinyModel();
    entry = tiny.entry;
    runner = createRunner({ modelDir: tiny.modelDir, entry, chunkTimeoutMs: 60_000 });
    await runner.load();
  });
  after(() => runner.close());

  interface Outcome {
    frames: string[];
    end: EndEvent;
    stats: ReturnType<ModelScheduler["stats"]>;
    /** The most batch requests seen paused while an interactive one delivered a chunk. */
    pausedSeen: number;
  }

  /** One batch request; with `interrupt`, an interactive K=8 request arrives as it delivers chunks 1 and 8. */
  async function runBatch(interrupt: boolean, pausedStateBytesMax?: number): Promise<Outcome> {
    // batchLanesBesideInteractive 0 (the CPU default): every batch lane pauses while interactive work runs.
    const scheduler = new ModelScheduler({ executor: runner, batchLanesMax: entry.batchLanesMax, queueDelayUs: 0, batchLanesBesideInteractive: 0, ...(pausedStateBytesMax === undefined ? {} : { pausedStateBytesMax }) });
    const [h, w] = entry.resolution;
    const startFrame = testFrame(h, w);
    const lanes = Array.from({ length: K }, (_, c) => randomActions(T * entry.actionDim, 100 + c));
    const perCandidate = Array.from({ length: K }, () => [] as Buffer[]);
    const interactive: Promise<EndEvent>[] = [];
    let pausedSeen = 0;
    const end = await new Promise<EndEvent>((resolve) => {
      scheduler.submit(
        { requestId: "bulk", lanes, startFrame, numSteps: entry.defaultNumSteps, guidance: 1, seed: 11n, priority: "batch", customerId: "bulk" },
        {
          onChunk: (e: ChunkEvent) => {
            for (const l of e.lanes) for (const f of l.frames) perCandidate[l.candidateIndex]!.push(Buffer.from(f));
            if (interrupt && (e.chunkIndex === 1 || e.chunkIndex === 8)) {
              interactive.push(
                new Promise<EndEvent>((done) =>
                  scheduler.submit(
                    { requestId: `ctl${e.chunkIndex}`, lanes: Array.from({ length: 8 }, (_, c) => randomActions(24 * entry.actionDim, c)), startFrame, numSteps: entry.defaultNumSteps, guidance: 1, seed: 1n, customerId: "robot" },
                    { onChunk: () => void (pausedSeen = Math.max(pausedSeen, scheduler.stats().pausedRequests)), onEnd: done },
                  ),
                ),
              );
            }
          },
          onEnd: resolve,
        },
      );
    });
    for (const e of await Promise.all(interactive)) assert.equal(e.reason, "completed");
    return { frames: perCandidate.map((frames) => Buffer.concat(frames).toString("base64")), end, stats: scheduler.stats(), pausedSeen };
  }

  it("paused: the batch request's frames equal an uninterrupted run's, byte for byte", async () => {
    const alone = await runBatch(false);
    const paused = await runBatch(true);
    assert.equal(paused.end.reason, "completed");
    assert.equal(paused.stats.evictions, 0);
    assert.equal(paused.pausedSeen, 1, "the batch request was paused while the interactive ones ran");
    assert.deepEqual(paused.end.framesPerCandidate, new Array(K).fill(T));
    assert.ok(paused.frames.every((f, c) => f === alone.frames[c]), "frames identical");
  });

  it("evicted (a state budget of 0 bytes): recomputed from the start frame, identical bytes, each frame delivered once", async () => {
    const alone = await runBatch(false);
    const evicted = await runBatch(true, 0);
    assert.equal(evicted.end.reason, "completed");
    assert.ok(evicted.stats.evictions >= 1, `the paused request was evicted: ${JSON.stringify(evicted.stats)}`);
    assert.ok(evicted.stats.replayedLaneChunks >= K, "and its chunks recomputed");
    assert.deepEqual(evicted.end.framesPerCandidate, new Array(K).fill(T), "billed frames: T per candidate, not more");
    assert.ok(evicted.frames.every((f, c) => f === alone.frames[c]), "frames identical");
  });
});
