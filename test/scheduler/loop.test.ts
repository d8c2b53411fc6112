// The scheduler loop against a fake executor, with time driven by hand. No timed assertions: every
// "later" is a FakeClock move or a step the test completes explicitly.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import type { EndEvent } from "../../src/scheduler/request";
import { ModelScheduler } from "../../src/scheduler/loop";
import { harness, harnessDefaults, smallGeometry } from "./harness";
import { makeRequest, settle } from "./fakes";

function stepLaneCounts(h: ReturnType<typeof harness>): number[] {
  return h.exec.steps.map((s) => s.lanes.length);
}

/** Manual mode: complete steps one at a time until nothing is waiting. */
async function runToIdle(h: ReturnType<typeof harness>): Promise<void> {
  await settle();
  while (h.exec.pendingCalls > 0) {
    h.exec.finishCall();
    await settle();
  }
}

// Every test runs twice: on an executor called once per chunk, and on one that runs the chunks of an
// unchanged batch back to back (stepRun, plan.ts rule 5) and is interrupted at every event. The
// observable behaviour (what steps with what, what each sink sees, what is billed) must be the same.
for (const runs of [false, true]) {
  describe(runs ? "scheduler/loop (chunks run back to back)" : "scheduler/loop", () => {
    before(() => (harnessDefaults.runs = runs));
    after(() => (harnessDefaults.runs = false));

    describe("encode and step", () => {
      it("encodes the start frame once per request; every lane reads it for chunk 0, then its own state", async () => {
        const h = harness();
        const sink = h.submit("a", { k: 8, t: 8 });
        assert.equal(h.exec.encodes.length, 0, "submit never calls the executor synchronously");
        await settle();

        assert.equal(h.exec.encodes.length, 1);
        assert.equal(h.exec.encodes[0]!.keys.length, 1);
        const encodeKey = h.exec.encodes[0]!.keys[0]!;
        assert.deepEqual(stepLaneCounts(h), [8, 8]);
        const [first, second] = h.exec.steps;
        assert.ok(first!.lanes.every((l) => l.inStateKey === encodeKey && l.chunkIndex === 0));
        assert.ok(second!.lanes.every((l) => l.inStateKey === l.outStateKey && l.chunkIndex === 1));
        assert.equal(new Set(first!.lanes.map((l) => l.outStateKey)).size, 8, "each lane has its own state");

        assert.equal(sink.started.length, 1);
        assert.deepEqual(
          sink.chunks.map((c) => c.lanes.map((l) => l.firstFrameIndex)),
          [new Array(8).fill(1), new Array(8).fill(5)],
        );
        assert.equal(sink.end.reason, "completed");
        assert.deepEqual(sink.end.framesPerCandidate, new Array(8).fill(8));
        assert.deepEqual(sink.end.cancelled, []);
        assert.deepEqual(sink.deliveredFrames(8), sink.end.framesPerCandidate);
        h.clean();
      });

      it("delivers frames as views into the executor's output, lane by lane", async () => {
        const h = harness();
        const sink = h.submit("a", { k: 3, t: 4 });
        await settle();
        const [chunk] = sink.chunks;
        const out = h.exec.lastFrames!;
        chunk!.lanes.forEach((lane, i) => {
          lane.frames.forEach((frame, f) => {
            assert.equal(frame.buffer, out.buffer, "a view, not a copy");
            assert.equal(frame.length, h.exec.frameBytes);
            assert.deepEqual([frame[0], frame[1], frame[2]], [i, f, 0]);
          });
        });
      });

      it("zero-pads a trailing partial chunk and drops its extra frames (T=50, chunk 12 → 5 chunks, last yields 2)", async () => {
        const h = harness({ geometry: { height: 2, width: 2, actionDim: 3, chunkSize: 12 } });
        const sink = h.submit("a", { k: 2, t: 50 });
        await settle();
        assert.equal(h.exec.steps.length, 5);
        const last = h.exec.steps[4]!.lanes[0]!;
        assert.equal(last.chunkIndex, 4);
        assert.equal(last.actions.length, 12 * 3);
        assert.deepEqual([...last.actions.subarray(0, 6)], [100, 49, 0, 100, 50, 0], "actions 49 and 50 of candidate 0");
        assert.ok(last.actions.subarray(6).every((v) => v === 0), "padding is zeros");
        assert.deepEqual(
          sink.chunks.map((c) => [c.lanes[0]!.firstFrameIndex, c.lanes[0]!.frames.length]),
          [
            [1, 12],
            [13, 12],
            [25, 12],
            [37, 12],
            [49, 2],
          ],
        );
        assert.deepEqual(sink.end.framesPerCandidate, [50, 50]);
      });
    });

    describe("batching", () => {
      it("a lone small request waits queueDelayUs for company, then goes with whoever came", async () => {
        const h = harness({ queueDelayUs: 2_000 });
        h.submit("a", { k: 2 });
        await settle();
        assert.equal(h.exec.encodes.length, 0);
        h.timer.advanceUs(1_999);
        h.submit("b", { k: 2 });
        await settle();
        assert.equal(h.exec.encodes.length, 0, "4 of 8 lanes: still waiting");
        h.timer.advanceUs(1);
        await settle();
        assert.equal(h.exec.encodes.length, 1);
        assert.equal(h.exec.encodes[0]!.keys.length, 2);
        assert.deepEqual(stepLaneCounts(h), [4]);
      });

      it("a full batch goes without waiting", async () => {
        const h = harness({ queueDelayUs: 2_000 });
        h.submit("a", { k: 4 });
        h.submit("b", { k: 4 });
        await settle();
        assert.deepEqual(stepLaneCounts(h), [8]);
        assert.equal(h.timer.size, 0);
      });

      it("a request arriving mid-rollout joins at the next chunk boundary, not after the rollout", async () => {
        const h = harness({ manual: true, batchLanesMax: 16 });
        h.submit("long", { k: 4, t: 16 }); // 4 chunks
        await settle();
        assert.equal(h.exec.pendingCalls, 1);
        const longEncodeKey = h.exec.encodes[0]!.keys[0]!;

        h.submit("short", { k: 4, t: 4 }); // 1 chunk, arrives while chunk 0 of "long" runs
        h.exec.finishCall();
        await settle();
        assert.ok(!h.exec.states.has(longEncodeKey), "the start state is released once chunk 0 has read it");
        const joined = h.exec.steps[1]!;
        assert.deepEqual(
          joined.lanes.map((l) => l.chunkIndex),
          [1, 1, 1, 1, 0, 0, 0, 0],
        );

        await runToIdle(h);
        assert.deepEqual(h.log, [
          "start long",
          "chunk long 0 [0,1,2,3]",
          "start short",
          "chunk long 1 [0,1,2,3]",
          "chunk short 0 [0,1,2,3]",
          "end short completed",
          "chunk long 2 [0,1,2,3]",
          "chunk long 3 [0,1,2,3]",
          "end long completed",
        ]);
        assert.equal(h.exec.encodes.length, 2, "one encode per request");
        h.clean();
      });

      it("lanes with different numSteps never share a step; groups take turns", async () => {
        const h = harness();
        h.submit("a", { k: 2, t: 8, numSteps: 4 });
        h.submit("b", { k: 2, t: 8, numSteps: 8 });
        await settle();
        assert.deepEqual(
          h.exec.steps.map((s) => s.numSteps),
          [4, 8, 4, 8],
        );
        assert.equal(h.exec.encodes.length, 1, "both admitted (and encoded) together");
        h.clean();
      });
    });

    describe("cancellation", () => {
      it("cancelling a queued request ends it at once; the executor never hears of it", async () => {
        const h = harness({ queueDelayUs: 5_000 });
        const sink = h.submit("a", { k: 3 });
        await settle();
        const result = h.scheduler.cancel("a");
        assert.deepEqual(result, { known: true, cancelled: [0, 1, 2], stillRunning: [] });
        assert.equal(sink.end.reason, "cancelled");
        assert.deepEqual(sink.end.framesPerCandidate, [0, 0, 0]);
        assert.equal(sink.end.engineUs, 0);
        h.timer.advanceUs(10_000);
        await settle();
        assert.equal(h.exec.encodes.length + h.exec.steps.length, 0);
        assert.deepEqual(h.scheduler.cancel("a"), { known: false });
        assert.deepEqual(h.scheduler.cancel("never-seen"), { known: false });
      });

      it("rejects candidate indices outside 0..K-1 without cancelling anything", async () => {
        const h = harness({ queueDelayUs: 5_000 });
        h.submit("a", { k: 2 });
        assert.throws(
          () => h.scheduler.cancel("a", [1, 2]),
          (e: unknown) => e instanceof ServiceError && e.reason === "INVALID_ARGUMENT",
        );
        assert.deepEqual(h.scheduler.cancel("a", [1]), { known: true, cancelled: [1], stillRunning: [0] });
      });

      it("whole-request cancel mid-run stops at the next boundary and reports the frames generated", async () => {
        const h = harness({ manual: true });
        const sink = h.submit("a", { k: 4, t: 16 });
        await settle();
        assert.deepEqual(h.scheduler.cancel("a"), { known: true, cancelled: [0, 1, 2, 3], stillRunning: [] });
        await runToIdle(h);
        assert.equal(h.exec.steps.length, 1, "no step after the cancel boundary");
        assert.equal(sink.chunks.length, 1, "the chunk in flight is generated, so it is delivered");
        assert.equal(sink.end.reason, "cancelled");
        assert.deepEqual(sink.end.framesPerCandidate, [4, 4, 4, 4]);
        assert.deepEqual(sink.end.cancelled, [0, 1, 2, 3]);
        h.clean();
      });

      it("partial cancel: prune 6 of 8 candidates after chunk 0; the other 2 finish", async () => {
        const h = harness({ manual: true });
        const sink = h.submit("mpc", { k: 8, t: 16 });
        await settle();
        const result = h.scheduler.cancel("mpc", [0, 1, 2, 3, 4, 5]);
        assert.deepEqual(result, { known: true, cancelled: [0, 1, 2, 3, 4, 5], stillRunning: [6, 7] });
        h.exec.finishCall();
        await settle();
        const survivors = h.exec.steps[1]!.lanes.map((l) => l.outStateKey);
        assert.deepEqual([...h.exec.states].sort(), [...survivors].sort(), "pruned lanes' states released at the boundary");
        await runToIdle(h);
        assert.deepEqual(stepLaneCounts(h), [8, 2, 2, 2]);
        assert.equal(sink.end.reason, "completed");
        assert.deepEqual(sink.end.framesPerCandidate, [4, 4, 4, 4, 4, 4, 16, 16]);
        assert.deepEqual(sink.end.cancelled, [0, 1, 2, 3, 4, 5]);
        assert.deepEqual(sink.deliveredFrames(8), sink.end.framesPerCandidate);
        assert.deepEqual(
          sink.chunks.map((c) => c.lanes.length),
          [8, 2, 2, 2],
        );
        h.clean();
      });

      it("a cancel during the last chunk lets the lane complete", async () => {
        const h = harness({ manual: true });
        const sink = h.submit("a", { k: 2, t: 4 });
        await settle();
        h.scheduler.cancel("a");
        await runToIdle(h);
        assert.equal(sink.end.reason, "completed");
        assert.deepEqual(sink.end.framesPerCandidate, [4, 4]);
        assert.deepEqual(sink.end.cancelled, []);
      });
    });

    describe("deadlines", () => {
      it("a deadline too short to start fails DEADLINE_EXCEEDED and never reaches the executor", async () => {
        const h = harness({ stepUsEstimate: 1_000 });
        const tight = h.submit("tight", { deadlineUs: 500 }); // one step takes ~1 ms: nothing could be produced
        const passed = h.submit("passed", { deadlineUs: 0 });
        const fine = h.submit("fine", { deadlineUs: 50_000 });
        await settle();
        for (const sink of [tight, passed]) {
          assert.equal(sink.end.reason, "deadline");
          assert.equal(sink.end.error?.reason, "DEADLINE_EXCEEDED");
          assert.deepEqual(sink.end.framesPerCandidate, [0]);
          assert.equal(sink.started.length, 0);
        }
        assert.equal(fine.end.reason, "completed");
        assert.deepEqual(h.exec.encodes.flatMap((e) => e.keys).map((k) => k.split("#")[0]), ["fine"]);
        assert.ok(h.exec.steps.every((s) => s.lanes.every((l) => l.laneTag === 300)), "only 'fine' was stepped");
      });

      it("a queued request whose deadline passes behind running work expires at the next boundary", async () => {
        const h = harness({ manual: true });
        h.submit("busy", { k: 8, t: 8 });
        await settle();
        const late = h.submit("late", { k: 1, deadlineUs: 100 });
        h.clock.advanceUs(200);
        await runToIdle(h);
        assert.equal(late.end.reason, "deadline");
        assert.equal(h.exec.encodes.length, 1);
        h.clean();
      });

      it("a deadline passing mid-rollout stops at the next chunk boundary with what was generated", async () => {
        const h = harness();
        h.exec.stepUs = 1_000;
        const sink = h.submit("a", { k: 2, t: 16, deadlineUs: 2_500 }); // chunks end at 1000, 2000, 3000 > 2500
        await settle();
        assert.equal(h.exec.steps.length, 3);
        assert.equal(sink.end.reason, "deadline");
        assert.equal(sink.end.error?.reason, "DEADLINE_EXCEEDED");
        assert.deepEqual(sink.end.framesPerCandidate, [12, 12]);
        assert.equal(sink.end.engineUs, 3_000);
        h.clean();
      });
    });

    describe("engine failure", () => {
      it("a rejected step fails exactly the requests in that call; others and later ones are served", async () => {
        const h = harness({ manual: true });
        const a = h.submit("a", { k: 2, t: 8, numSteps: 4 });
        const b = h.submit("b", { k: 2, t: 8, numSteps: 4 });
        const c = h.submit("c", { k: 2, t: 8, numSteps: 8 }); // admitted too, but not in the numSteps=4 call
        await settle();
        const cause = new Error("CUDA error: an illegal memory access");
        h.exec.failPendingCall(cause);
        await runToIdle(h);
        for (const sink of [a, b]) {
          assert.equal(sink.end.reason, "failed");
          assert.equal(sink.end.error?.reason, "ENGINE_FAILURE");
          assert.equal(sink.end.error?.cause, cause);
          assert.deepEqual(sink.end.framesPerCandidate, [0, 0]);
        }
        assert.equal(c.end.reason, "completed");
        const d = h.submit("d", { k: 1 });
        await runToIdle(h);
        assert.equal(d.end.reason, "completed");
        h.clean();
      });

      it("an ENGINE_FAILURE from the executor passes through unchanged, after earlier chunks were reported", async () => {
        const h = harness();
        const own = new ServiceError("ENGINE_FAILURE", "runner crashed");
        h.exec.failStep = (batch) => (batch.lanes[0]!.chunkIndex === 1 ? own : undefined);
        const sink = h.submit("a", { k: 1, t: 8 });
        await settle();
        assert.equal(sink.end.error, own);
        assert.deepEqual(sink.end.framesPerCandidate, [4], "frames from chunk 0 were generated and reported");
        h.clean();
      });

      it("a rejected encode fails the requests it carried and nothing is stepped for them", async () => {
        const h = harness();
        let fail = true;
        h.exec.failEncode = () => (fail ? new Error("decode failed") : undefined);
        const a = h.submit("a", { k: 2 });
        await settle();
        assert.equal(a.end.reason, "failed");
        assert.equal(a.end.error?.reason, "ENGINE_FAILURE");
        assert.equal(h.exec.steps.length, 0);
        fail = false;
        const b = h.submit("b", { k: 2 });
        await settle();
        assert.equal(b.end.reason, "completed");
        h.clean();
      });
    });

    it("malformed step output fails the call's requests as ENGINE_FAILURE instead of crashing", async () => {
      const released: string[] = [];
      const scheduler = new ModelScheduler({
        executor: {
          geometry: smallGeometry,
          encode: async () => {},
          step: async () => ({ frames: new Uint8Array(5), computeUs: 0 }),
          release: (keys) => released.push(...keys),
        },
        batchLanesMax: 8,
        queueDelayUs: 0,
      });
      const end = await new Promise<EndEvent>((resolve) => scheduler.submit(makeRequest(smallGeometry, "a", { k: 2 }), { onChunk() {}, onEnd: resolve }));
      assert.equal(end.reason, "failed");
      assert.equal(end.error?.reason, "ENGINE_FAILURE");
      assert.deepEqual(end.framesPerCandidate, [0, 0]);
      assert.equal(released.length, 3, "start state and both lane states released");
    });

    it("runs on the real clock and setTimeout when none are injected", async () => {
      const h = harness(); // only for its executor; the scheduler below uses the defaults
      const scheduler = new ModelScheduler({ executor: h.exec, batchLanesMax: 8, queueDelayUs: 1_000 });
      const end = await new Promise<EndEvent>((resolve) => scheduler.submit(makeRequest(smallGeometry, "a", { k: 1, t: 8 }), { onChunk() {}, onEnd: resolve }));
      assert.equal(end.reason, "completed");
      assert.deepEqual(end.framesPerCandidate, [8]);
    });

    describe("admission limits", () => {
      it("a full queue rejects UNAVAILABLE with a retry hint and never grows", async () => {
        const h = harness({ manual: true, queueRequestsMax: 2, queueLanesMax: 8, retryAfterS: 2 });
        h.submit("running", { k: 8 });
        await settle();
        h.submit("q1", { k: 4 });
        h.submit("q2", { k: 3 });
        assert.throws(
          () => h.submit("third", { k: 1 }),
          (e: unknown) => e instanceof ServiceError && e.reason === "UNAVAILABLE" && e.retryAfterS === 2 && e.http === 503,
        );
        const stats = h.scheduler.stats();
        assert.deepEqual([stats.queuedRequests, stats.queuedLanes], [2, 7]);
        await runToIdle(h);
        h.clean();
      });

      it("the lane bound rejects a request that would push queued candidates past queueLanesMax", async () => {
        const h = harness({ manual: true, queueRequestsMax: 10, queueLanesMax: 8 });
        h.submit("running", { k: 8 });
        await settle();
        h.submit("q1", { k: 6 });
        assert.throws(() => h.submit("q2", { k: 3 }), (e: unknown) => e instanceof ServiceError && e.reason === "UNAVAILABLE");
        h.submit("q3", { k: 2 });
        assert.equal(h.scheduler.stats().queuedLanes, 8);
      });

      it("rejects K over the model's batchLanesMax, bad shapes and duplicate ids with INVALID_ARGUMENT", () => {
        const h = harness({ queueDelayUs: 1_000 });
        const invalid = (e: unknown) => e instanceof ServiceError && e.reason === "INVALID_ARGUMENT";
        assert.throws(() => h.submit("big", { k: 9 }), invalid);
        h.submit("a", { k: 1 });
        assert.throws(() => h.submit("a", { k: 1 }), invalid);
        const req = { requestId: "bad", lanes: [new Float32Array(7)], startFrame: new Uint8Array(12), numSteps: 4, guidance: 1, seed: 0n };
        assert.throws(() => h.scheduler.submit(req, { onChunk() {}, onEnd() {} }), invalid);
        assert.throws(() => h.scheduler.submit({ ...req, lanes: [new Float32Array(6), new Float32Array(9)] }, { onChunk() {}, onEnd() {} }), invalid);
        assert.throws(() => h.scheduler.submit({ ...req, lanes: [new Float32Array(6)], startFrame: new Uint8Array(11) }, { onChunk() {}, onEnd() {} }), invalid);
      });
    });

    describe("drain", () => {
      it("stops admitting and resolves when queued and running work has finished", async () => {
        const h = harness({ manual: true });
        const running = h.submit("running", { k: 8, t: 8 });
        await settle();
        const queued = h.submit("queued", { k: 2 });
        let drained = false;
        const done = h.scheduler.drain().then(() => (drained = true));
        assert.throws(
          () => h.submit("late", { k: 1 }),
          (e: unknown) => e instanceof ServiceError && e.reason === "UNAVAILABLE" && e.details["draining"] === true && e.retryAfterS !== undefined,
        );
        h.exec.finishCall();
        await settle();
        assert.equal(drained, false);
        await runToIdle(h);
        await done;
        assert.equal(running.end.reason, "completed");
        assert.equal(queued.end.reason, "completed");
        assert.ok(h.scheduler.stats().draining);
        h.clean();
      });

      it("cuts a company wait short, and resolves at once when idle", async () => {
        const h = harness({ queueDelayUs: 1_000_000 });
        const sink = h.submit("a", { k: 1 });
        await settle();
        assert.equal(h.exec.encodes.length, 0);
        await h.scheduler.drain();
        assert.equal(sink.end.reason, "completed");
        await h.scheduler.drain();
      });
    });

    describe("slow consumers", () => {
      it("a consumer more than bufferedChunksMax chunks behind is cancelled; its batch-mates carry on", async () => {
        const h = harness({ bufferedChunksMax: 2 });
        const slow = h.submit("slow", { k: 1, t: 24 }); // 6 chunks
        slow.chunkResult = () => new Promise<void>(() => {}); // never flushes
        const fast = h.submit("fast", { k: 1, t: 24 });
        await settle();
        assert.equal(slow.end.reason, "cancelled");
        assert.equal(slow.end.error?.reason, "CANCELLED");
        assert.deepEqual(slow.end.framesPerCandidate, [12], "3 chunks delivered, the 3rd unflushed one tripped the bound");
        assert.equal(fast.end.reason, "completed");
        h.clean();
      });

      it("a consumer that keeps up (promises settle) is never cut off", async () => {
        const h = harness({ bufferedChunksMax: 1 });
        const sink = h.submit("a", { k: 1, t: 24 });
        sink.chunkResult = () => Promise.resolve();
        await settle();
        assert.equal(sink.end.reason, "completed");
      });

      it("a throwing onChunk cancels only that request", async () => {
        const h = harness();
        const bad = h.submit("bad", { k: 1, t: 12 });
        bad.chunkResult = () => {
          throw new Error("socket closed");
        };
        const good = h.submit("good", { k: 1, t: 12 });
        await settle();
        assert.equal(bad.end.reason, "cancelled");
        assert.deepEqual(bad.end.framesPerCandidate, [4]);
        assert.equal(good.end.reason, "completed");
        assert.equal(h.scheduler.stats().sinkErrors, 1);
        h.exec.assertClean();
      });
    });

    it("stats expose queue depth, running work, last batch size and chunk count", async () => {
      const h = harness({ manual: true });
      h.submit("a", { k: 6, t: 8 });
      await settle();
      h.submit("b", { k: 4 });
      let s = h.scheduler.stats();
      assert.deepEqual(
        [s.queuedRequests, s.queuedLanes, s.runningRequests, s.runningLanes, s.lastBatchLanes, s.chunksStepped, s.busy],
        // A run counts a chunk when it is delivered; a plain step when it is issued.
        runs ? [1, 4, 1, 6, 0, 0, true] : [1, 4, 1, 6, 6, 1, true],
      );
      await runToIdle(h);
      s = h.scheduler.stats();
      assert.deepEqual([s.queuedRequests, s.runningRequests, s.chunksStepped, s.laneChunksStepped, s.busy], [0, 0, 3, 6 + 6 + 4, false]);
      assert.deepEqual(s.ended, { completed: 2, cancelled: 0, deadline: 0, failed: 0 });
    });
  });
}
