// Priority classes, pausing and eviction, and fair share (plan.ts rules 3a and 3b): the pure decisions
// as tables, then the loop on a fake clock with executors called per chunk and per run.
import assert from "node:assert/strict";
import { fairOrder } from "../../src/scheduler/plan-admit";
import { plan, type LaneRef, type PlanConfig, type PlanState, type QueuedView, type RunningView } from "../../src/scheduler/plan";
import { settle, type RecordingSink } from "./fakes";
import { harness, type HarnessOptions } from "./harness";
import { statefulExecutor } from "./stateful-fake";

const config: PlanConfig = { batchLanesMax: 8, queueDelayUs: 0, stepUsEstimate: 0, runChunksMax: 1 };

function q(requestId: string, o: Partial<QueuedView> & { k?: number } = {}): QueuedView {
  const { k = 1, ...rest } = o;
  return { requestId, candidates: Array.from({ length: k }, (_, i) => i), chunkCount: 4, numSteps: 4, enqueuedUs: 0, deadlineUs: undefined, readySeq: 100, ...rest };
}

function r(requestId: string, o: Partial<RunningView> & { k?: number } = {}): RunningView {
  const { k = 1, ...rest } = o;
  return { requestId, candidates: Array.from({ length: k }, (_, i) => i), nextChunk: 1, chunkCount: 10, numSteps: 4, deadlineUs: undefined, readySeq: 50, ...rest };
}

const batch = { priority: "batch" as const };

function step(s: PlanState, cfg: Partial<PlanConfig> = {}) {
  const p = plan(s, 1_000, { ...config, ...cfg });
  assert.equal(p.kind, "step", `expected a step, got ${JSON.stringify(p)}`);
  return p as Extract<typeof p, { kind: "step" }>;
}

const requestsOf = (lanes: LaneRef[]): string[] => [...new Set(lanes.map((l) => l.requestId))];

describe("scheduler/plan: priority classes (rule 3a)", () => {
  it("an interactive arrival is admitted at once into a batch-saturated runner; the batch lanes it displaces pause", () => {
    const running = [r("b1", { k: 2, ...batch, readySeq: 1 }), r("b2", { k: 2, ...batch, readySeq: 2 }), r("b3", { k: 2, ...batch, readySeq: 3 }), r("b4", { k: 2, ...batch, readySeq: 4 })];
    const p = step({ running, queued: [q("i", { k: 2, readySeq: 90 })], draining: false });
    assert.deepEqual(p.admit, ["i"]);
    assert.deepEqual(p.paused, ["b4"]);
    assert.deepEqual(requestsOf(p.lanes), ["b1", "b2", "b3", "i"]);
    assert.ok(p.lanes.some((l) => l.requestId === "i" && l.chunkIndex === 0), "the interactive request's first chunk is in this step");
  });

  it("with batchLanesBesideInteractive 0 (a CPU), every batch lane pauses while interactive work is in play", () => {
    const s: PlanState = { running: [r("b", { k: 2, ...batch, readySeq: 1 })], queued: [q("i", { k: 2, readySeq: 90 })], draining: false };
    const p = step(s, { batchLanesBesideInteractive: 0 });
    assert.deepEqual(requestsOf(p.lanes), ["i"]);
    assert.deepEqual(p.paused, ["b"]);
    assert.deepEqual(requestsOf(step({ ...s, queued: [] }, { batchLanesBesideInteractive: 0 }).lanes), ["b"], "alone, batch work has the whole batch");
    assert.deepEqual(requestsOf(step(s, { batchLanesBesideInteractive: 1 }).lanes), ["i"], "2 batch lanes do not fit beside interactive in 1");
    assert.deepEqual(requestsOf(step(s, { batchLanesBesideInteractive: 2 }).lanes), ["b", "i"]);
  });

  it("interactive work leads the numSteps group even when batch work has waited longer", () => {
    const p = step({ running: [r("b", { k: 2, numSteps: 8, readySeq: 1, ...batch })], queued: [q("i", { k: 2, numSteps: 4, readySeq: 90 })], draining: false });
    assert.equal(p.numSteps, 4);
    assert.deepEqual(requestsOf(p.lanes), ["i"]);
    assert.deepEqual(p.paused, [], "b is in play, only not in this numSteps group");
  });

  it("batch requests fill only what interactive work leaves free", () => {
    const p = step({ running: [r("i", { k: 2 })], queued: [q("b", { k: 4, ...batch }), q("c", { k: 4, ...batch })], draining: false });
    assert.deepEqual(p.admit, ["b"]);
  });

  it("no queued batch request is admitted while a running one is paused: the paused one resumes first", () => {
    const p = step({ running: [r("i", { k: 6 }), r("b", { k: 4, ...batch })], queued: [q("c", { k: 2, ...batch })], draining: false });
    assert.deepEqual(p.paused, ["b"]);
    assert.deepEqual(p.admit, []);
  });

  it("a batch request larger than what interactive leaves is not overtaken by later batch requests", () => {
    const p = step({ running: [r("i", { k: 4 })], queued: [q("big", { k: 8, ...batch }), q("small", { k: 1, ...batch })], draining: false });
    assert.deepEqual(p.admit, []);
  });

  it("paused lanes beyond the state budget are evicted, the least advanced first; evicted ones do not count", () => {
    const s: PlanState = {
      running: [r("i", { k: 8 }), r("far", { k: 2, nextChunk: 6, ...batch }), r("near", { k: 2, nextChunk: 1, ...batch }), r("gone", { k: 2, nextChunk: 0, holdsState: false, ...batch })],
      queued: [],
      draining: false,
    };
    assert.deepEqual(step(s, { pausedLanesMax: 2 }).evict, ["near"]);
    assert.deepEqual(step(s, { pausedLanesMax: 4 }).evict, []);
    assert.deepEqual(step(s, { pausedLanesMax: 0 }).evict, ["near", "far"]);
    assert.deepEqual(step(s, { pausedLanesMax: 0 }).paused, ["far", "near", "gone"]);
  });
});

describe("scheduler/plan: shorter batch chunks near interactive work (rule 3c)", () => {
  const near = { batchLanesNearInteractive: 4, interactiveNearUs: 500 };
  const fourBatch = () => [r("b1", { k: 2, ...batch, readySeq: 1 }), r("b2", { k: 2, ...batch, readySeq: 2 }), r("b3", { k: 2, ...batch, readySeq: 3 }), r("b4", { k: 2, ...batch, readySeq: 4 })];

  it("within interactiveNearUs of an interactive arrival, batch lanes in play are capped; the oldest keep playing", () => {
    const p = step({ running: fourBatch(), queued: [], draining: false, lastInteractiveUs: 600 }, near); // plan() runs at 1000 µs
    assert.deepEqual(requestsOf(p.lanes), ["b1", "b2"]);
    assert.deepEqual(p.paused, ["b3", "b4"]);
  });

  it("after the window, or with no interactive arrival yet, batch work has the whole batch", () => {
    for (const lastInteractiveUs of [400, undefined]) {
      const p = step({ running: fourBatch(), queued: [], draining: false, ...(lastInteractiveUs === undefined ? {} : { lastInteractiveUs }) }, near);
      assert.deepEqual(requestsOf(p.lanes), ["b1", "b2", "b3", "b4"], String(lastInteractiveUs));
      assert.deepEqual(p.paused, []);
    }
  });

  it("queued batch requests are admitted only up to the cap while it applies", () => {
    const p = step({ running: [], queued: [q("b1", { k: 2, ...batch }), q("b2", { k: 2, ...batch }), q("b3", { k: 2, ...batch })], draining: false, lastInteractiveUs: 900 }, near);
    assert.deepEqual(p.admit, ["b1", "b2"]);
  });

  it("never starves: a batch request wider than the cap still runs, at full capacity", () => {
    const running = [r("wide", { k: 6, ...batch, readySeq: 1 })];
    assert.deepEqual(requestsOf(step({ running, queued: [], draining: false, lastInteractiveUs: 900 }, near).lanes), ["wide"]);
    const queued = [q("wide", { k: 6, ...batch })];
    assert.deepEqual(step({ running: [], queued, draining: false, lastInteractiveUs: 900 }, near).admit, ["wide"]);
  });

  it("with interactive work in play, batchLanesBesideInteractive decides as before", () => {
    const p = step({ running: [r("i", { k: 2, readySeq: 60 }), ...fourBatch()], queued: [], draining: false, lastInteractiveUs: 900 }, { ...near, batchLanesBesideInteractive: 0 });
    assert.deepEqual(requestsOf(p.lanes), ["i"]);
    assert.deepEqual(p.paused, ["b1", "b2", "b3", "b4"]);
  });
});

describe("scheduler/plan: fair share (rule 3b)", () => {
  it("customers take turns by lanes served; a lone customer is FIFO", () => {
    const queued = [q("a1", { k: 2, customerId: "A", readySeq: 1 }), q("a2", { k: 2, customerId: "A", readySeq: 2 }), q("a3", { k: 2, customerId: "A", readySeq: 3 }), q("b1", { k: 2, customerId: "B", readySeq: 4 }), q("b2", { k: 2, customerId: "B", readySeq: 5 })];
    assert.deepEqual(fairOrder(queued, undefined).map((v) => v.requestId), ["a1", "b1", "a2", "b2", "a3"]);
    assert.deepEqual(fairOrder(queued, new Map([["A", 100]])).map((v) => v.requestId), ["b1", "b2", "a1", "a2", "a3"]);
    assert.deepEqual(fairOrder(queued.slice(0, 3), new Map([["A", 100]])).map((v) => v.requestId), ["a1", "a2", "a3"]);
    assert.deepEqual(step({ running: [], queued, draining: false }).admit, ["a1", "b1", "a2", "b2"]);
  });

  it("a request's cost is its lanes times its chunks", () => {
    const queued = [q("a-wide", { k: 4, chunkCount: 4, customerId: "A", readySeq: 1 }), q("a2", { k: 1, customerId: "A", readySeq: 2 }), q("b1", { k: 1, chunkCount: 4, customerId: "B", readySeq: 3 }), q("b2", { k: 1, chunkCount: 4, customerId: "B", readySeq: 4 })];
    // a-wide costs 16 lane-chunks: B's two 4-lane-chunk requests go before A's next one.
    assert.deepEqual(fairOrder(queued, undefined).map((v) => v.requestId), ["a-wide", "b1", "b2", "a2"]);
  });
});

/** Frames per candidate as one byte string per candidate, chunk after chunk: what a consumer received. */
function framesOf(sink: RecordingSink, k: number): string[] {
  const out = Array.from({ length: k }, () => [] as string[]);
  for (const c of sink.chunks) for (const l of c.lanes) for (const f of l.frames) out[l.candidateIndex]!.push(Buffer.from(f).toString("hex"));
  return out.map((frames) => frames.join("|"));
}

for (const runs of [false, true]) {
  const label = runs ? "runs" : "chunk by chunk";
  const make = (o: HarnessOptions = {}) => harness({ runs, makeExecutor: statefulExecutor, ...o });
  const batchRequest = (i: number) => ({ k: 2, t: 40, priority: "batch" as const, customerId: "bulk", seed: BigInt(i) });

  describe(`scheduler loop: priority classes (${label})`, () => {
    it("with batch work saturating the runner, an interactive request's first chunk starts at the next chunk boundary", async () => {
      const h = make({ manual: true });
      for (let i = 0; i < 4; i++) h.submit(`b${i}`, batchRequest(i));
      await settle();
      assert.equal(h.exec.pendingCalls, 1, "a batch chunk is in flight");
      const before = h.exec.steps.length;
      h.submit("ctl", { k: 2, t: 8, customerId: "robot" });
      h.exec.finishCall(); // the chunk in flight finishes: that is the boundary
      await settle();
      const next = h.exec.steps[before]!;
      const ctlTags = next.lanes.filter((l) => l.laneTag >= 500 && l.laneTag < 600);
      assert.equal(ctlTags.length, 2, "both interactive candidates step in the very next call");
      assert.ok(ctlTags.every((l) => l.chunkIndex === 0));
      assert.equal(next.lanes.length, 8, "batch lanes fill the rest of the batch");
      assert.equal(h.scheduler.stats().pausedRequests, 1);
      while (h.exec.pendingCalls > 0) {
        h.exec.finishCall();
        await settle();
      }
      assert.equal(h.sinks.get("ctl")!.end.reason, "completed");
      for (let i = 0; i < 4; i++) assert.equal(h.sinks.get(`b${i}`)!.end.reason, "completed");
      assert.equal(h.scheduler.stats().pausedRequests, 0);
      h.clean();
    });

    it("with batchLanesBesideInteractive 0, the interactive request steps alone until it is done, then batch work resumes", async () => {
      const h = make({ manual: true, batchLanesBesideInteractive: 0 });
      for (let i = 0; i < 4; i++) h.submit(`b${i}`, batchRequest(i));
      await settle();
      const before = h.exec.steps.length;
      h.submit("ctl", { k: 2, t: 8, customerId: "robot" }); // 2 chunks
      for (let i = 0; i < 3; i++) {
        h.exec.finishCall(); // the batch chunk in flight, then ctl's two chunks
        await settle();
      }
      const [first, second, third] = h.exec.steps.slice(before);
      assert.deepEqual(first!.lanes.map((l) => l.laneTag), [500, 501]);
      assert.deepEqual(second!.lanes.map((l) => l.laneTag), [500, 501]);
      assert.equal(h.sinks.get("ctl")!.end.reason, "completed");
      assert.equal(third!.lanes.length, 8, "batch work has the whole batch again");
      while (h.exec.pendingCalls > 0) {
        h.exec.finishCall();
        await settle();
      }
      h.clean();
    });

    it("near a control loop (rule 3c), batch chunks between its decisions carry at most batchLanesNearInteractive lanes; after the window, all", async () => {
      // One chunk per call, so every boundary re-plans (with runs, a capped run would last until b0 and b1 end).
      const h = make({ manual: true, batchLanesBesideInteractive: 0, batchLanesNearInteractive: 4, interactiveNearUs: 1_000_000, runChunksMax: 1 });
      for (let i = 0; i < 4; i++) h.submit(`b${i}`, batchRequest(i));
      await settle();
      assert.equal(h.exec.steps.at(-1)!.lanes.length, 8, "no control loop yet: the whole batch");
      h.submit("ctl", { k: 2, t: 8, customerId: "robot" }); // 2 chunks
      for (let i = 0; i < 3; i++) {
        h.exec.finishCall(); // the batch call in flight, then ctl's two chunks
        await settle();
      }
      assert.equal(h.sinks.get("ctl")!.end.reason, "completed");
      assert.equal(h.exec.steps.at(-1)!.lanes.length, 4, "between decisions: capped");
      assert.equal(h.scheduler.stats().pausedRequests, 2);
      h.clock.advanceUs(1_000_001);
      while (h.exec.steps.at(-1)!.lanes.length === 4 && h.exec.pendingCalls > 0) {
        h.exec.finishCall();
        await settle();
      }
      assert.equal(h.exec.steps.at(-1)!.lanes.length, 8, "the window passed: the whole batch again");
      while (h.exec.pendingCalls > 0) {
        h.exec.finishCall();
        await settle();
      }
      for (let i = 0; i < 4; i++) assert.equal(h.sinks.get(`b${i}`)!.end.reason, "completed");
      h.clean();
    });

    for (const evicting of [false, true]) {
      const what = evicting ? "evicted and recomputed" : "paused";
      it(`batch lanes ${what} for interactive bursts finish with frames byte-identical to an uninterrupted run${evicting ? ", billed once" : ""}`, async () => {
        const alone = make();
        for (let i = 0; i < 4; i++) alone.submit(`b${i}`, batchRequest(i));
        await settle();
        const expected = [0, 1, 2, 3].map((i) => framesOf(alone.sinks.get(`b${i}`)!, 2));
        alone.clean();

        // A state budget of 0 bytes evicts every paused request at once.
        const h = make(evicting ? { pausedStateBytesMax: 0 } : {});
        for (let i = 0; i < 4; i++) h.submit(`b${i}`, batchRequest(i));
        let bursts = 0;
        const b0 = h.sinks.get("b0")!;
        b0.chunkResult = () => {
          // Interactive bursts arrive at chunks 2, 5 and 7 of b0: each pauses some batch lanes.
          if ([2, 5, 7].includes(b0.chunks.length)) h.submit(`ctl${bursts++}`, { k: 4, t: 8, customerId: "robot" });
        };
        await settle();
        assert.equal(bursts, 3);
        for (let i = 0; i < 4; i++) {
          const sink = h.sinks.get(`b${i}`)!;
          assert.equal(sink.end.reason, "completed");
          assert.deepEqual(framesOf(sink, 2), expected[i], `b${i}: frames identical to the uninterrupted run`);
          assert.deepEqual(sink.end.framesPerCandidate, [40, 40], "each frame counted (billed) once");
          assert.deepEqual(sink.deliveredFrames(2), [40, 40]);
        }
        const stats = h.scheduler.stats();
        if (evicting) {
          assert.ok(stats.evictions >= 1, "some paused request was evicted");
          assert.ok(stats.replayedLaneChunks >= 1, "and its states recomputed");
        } else {
          assert.equal(stats.evictions, 0);
        }
        h.clean();
      });
    }

    it("two customers with equal demand get lane shares within 10% of each other", async () => {
      const h = make({ batchLanesMax: 8 });
      const customerOfTag = new Map<number, string>();
      let tag = 0;
      for (let i = 0; i < 12; i++) {
        for (const c of ["A", "B"]) {
          h.submit(`${c}${i}`, { k: 2, t: 16, priority: "batch", customerId: c });
          customerOfTag.set((tag += 100), c);
        }
      }
      await settle();
      const share = sharesUntilOneIsDone(h.exec.steps, customerOfTag, ["A", "B"], (c) => [...h.sinks].filter(([id]) => id.startsWith(c)).map(([, s]) => s));
      assert.ok(Math.abs(share.A! - share.B!) <= 0.1 * Math.max(share.A!, share.B!), `shares ${JSON.stringify(share)}`);
      h.clean();
    });

    it("a burst from one customer does not hold back another that arrives later", async () => {
      const h = make({ batchLanesMax: 8, manual: true });
      const customerOfTag = new Map<number, string>();
      let tag = 0;
      for (let i = 0; i < 30; i++) {
        h.submit(`A${i}`, { k: 2, t: 16, customerId: "A" });
        customerOfTag.set((tag += 100), "A");
      }
      await settle();
      for (let s = 0; s < 3; s++) {
        h.exec.finishCall();
        await settle();
      }
      const from = h.exec.steps.length;
      for (let i = 0; i < 6; i++) {
        h.submit(`B${i}`, { k: 2, t: 16, customerId: "B" });
        customerOfTag.set((tag += 100), "B");
      }
      while (h.exec.pendingCalls > 0) {
        h.exec.finishCall();
        await settle();
      }
      let a = 0;
      let b = 0;
      const lastB = Math.max(...h.exec.steps.map((st, i) => (st.lanes.some((l) => customerOfTag.get(Math.floor(l.laneTag / 100) * 100) === "B") ? i : -1)));
      for (const st of h.exec.steps.slice(from, lastB + 1)) {
        for (const l of st.lanes) (customerOfTag.get(Math.floor(l.laneTag / 100) * 100) === "B" ? b++ : a++);
      }
      assert.ok(b / (a + b) >= 0.45, `B got ${b} of ${a + b} lane-chunks while it had work`);
      h.clean();
    });

    it("bounds the lanes one customer may queue; another customer still gets in", async () => {
      const h = make({ manual: true, queueLanesPerCustomerMax: 4 });
      h.submit("run", { k: 4, t: 40, customerId: "A" }); // admitted at once: not queued
      await settle();
      h.submit("q1", { k: 2, customerId: "A" });
      h.submit("q2", { k: 2, customerId: "A" });
      assert.throws(
        () => h.submit("q3", { k: 1, customerId: "A" }),
        (err: { reason?: string; details?: Record<string, unknown> }) => err.reason === "UNAVAILABLE" && err.details?.customerQueuedLanes === 4 && err.details?.queueLanesPerCustomerMax === 4,
      );
      h.submit("other", { k: 2, customerId: "B" });
      while (h.exec.pendingCalls > 0) {
        h.exec.finishCall();
        await settle();
      }
      for (const id of ["run", "q1", "q2", "other"]) assert.equal(h.sinks.get(id)!.end.reason, "completed");
      h.clean();
    });

    it("a paused batch request can be cancelled: its states are released and it ends cancelled", async () => {
      const h = make({ manual: true });
      h.submit("b", { k: 8, t: 40, priority: "batch", customerId: "bulk" });
      await settle();
      h.submit("ctl", { k: 8, t: 8, customerId: "robot" });
      h.exec.finishCall();
      await settle();
      assert.equal(h.scheduler.stats().pausedRequests, 1);
      h.scheduler.cancel("b");
      while (h.exec.pendingCalls > 0) {
        h.exec.finishCall();
        await settle();
      }
      assert.equal(h.sinks.get("b")!.end.reason, "cancelled");
      assert.deepEqual(h.sinks.get("b")!.end.framesPerCandidate, new Array(8).fill(4), "the one chunk it ran is what is billed");
      assert.equal(h.sinks.get("ctl")!.end.reason, "completed");
      h.clean();
    });
  });
}

/** Each customer's share of lane-chunks stepped until the first of them has all its requests done. */
function sharesUntilOneIsDone(
  steps: readonly { lanes: readonly { laneTag: number }[] }[],
  customerOfTag: ReadonlyMap<number, string>,
  customers: readonly string[],
  sinksOf: (c: string) => RecordingSink[],
): Record<string, number> {
  const doneAtChunks = customers.map((c) => sinksOf(c).reduce((n, s) => n + s.chunks.length * 2, 0));
  const counts = Object.fromEntries(customers.map((c) => [c, 0])) as Record<string, number>;
  for (const st of steps) {
    for (const l of st.lanes) counts[customerOfTag.get(Math.floor(l.laneTag / 100) * 100)!]!++;
    if (customers.some((c, i) => counts[c]! >= doneAtChunks[i]!)) break;
  }
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.fromEntries(customers.map((c) => [c, counts[c]! / total]));
}
