// Chunks of an unchanged batch run back to back (plan.ts rule 5) and the company wait is skipped when
// no company is expected (rule 2): the pure decisions, and the loop driving an executor with stepRun.
import assert from "node:assert/strict";
import { plan, type PlanConfig, type PlanState, type QueuedView, type RunningView } from "../../src/scheduler/plan";
import { settle } from "./fakes";
import type { RunningFakeExecutor } from "./fakes";
import { harness } from "./harness";

const config: PlanConfig = { batchLanesMax: 8, queueDelayUs: 2_000, stepUsEstimate: 0, runChunksMax: 32 };

function q(requestId: string, o: Partial<QueuedView> & { k?: number } = {}): QueuedView {
  return { requestId, candidates: Array.from({ length: o.k ?? 1 }, (_, i) => i), chunkCount: 4, numSteps: 4, enqueuedUs: 0, deadlineUs: undefined, readySeq: 100, ...o };
}

function r(requestId: string, o: Partial<RunningView> & { k?: number } = {}): RunningView {
  return { requestId, candidates: Array.from({ length: o.k ?? 1 }, (_, i) => i), nextChunk: 1, chunkCount: 4, numSteps: 4, deadlineUs: undefined, readySeq: 50, ...o };
}

function chunksOf(s: PlanState, cfg: Partial<PlanConfig> = {}): number {
  const p = plan(s, 10_000, { ...config, ...cfg });
  assert.equal(p.kind, "step");
  return (p as Extract<typeof p, { kind: "step" }>).chunks;
}

describe("scheduler/plan: chunks run back to back (rule 5)", () => {
  const cases: { name: string; s: PlanState; cfg?: Partial<PlanConfig>; chunks: number }[] = [
    { name: "a lone running request runs to its end", s: { running: [r("a", { nextChunk: 1, chunkCount: 4 })], queued: [], draining: false }, chunks: 3 },
    { name: "a request admitted now runs all its chunks", s: { running: [], queued: [q("a", { chunkCount: 5, enqueuedUs: 0 })], draining: false }, chunks: 5 },
    { name: "until the first request in play finishes", s: { running: [r("a", { nextChunk: 1, chunkCount: 8 }), r("b", { nextChunk: 2, chunkCount: 4 })], queued: [], draining: false }, chunks: 2 },
    { name: "capped by runChunksMax", s: { running: [r("a", { nextChunk: 0, chunkCount: 20 })], queued: [], draining: false }, cfg: { runChunksMax: 6 }, chunks: 6 },
    { name: "runChunksMax 1: chunk by chunk", s: { running: [r("a", { nextChunk: 0, chunkCount: 20 })], queued: [], draining: false }, cfg: { runChunksMax: 1 }, chunks: 1 },
    { name: "two numSteps groups take turns: one chunk", s: { running: [r("a"), r("b", { numSteps: 8, readySeq: 60 })], queued: [], draining: false }, chunks: 1 },
    { name: "a chunkwise request (its consumer prunes after every chunk): one chunk", s: { running: [r("a", { chunkwise: true })], queued: [], draining: false }, chunks: 1 },
    {
      name: "a queued request that does not fit waits for lanes that free only when a request ends: run to that end",
      s: { running: [r("a", { k: 6, nextChunk: 0, chunkCount: 3 })], queued: [q("big", { k: 4 })], draining: false },
      chunks: 3,
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(chunksOf(c.s, c.cfg), c.chunks));
  }
});

describe("scheduler/plan: the company wait (rule 2)", () => {
  const lone = (gap: number | undefined): PlanState => ({ running: [], queued: [q("a", { k: 2, enqueuedUs: 9_000 })], draining: false, ...(gap === undefined ? {} : { arrivalGapUs: gap }) });
  it("arrivals further apart than the whole wait: go at once", () => {
    assert.equal(plan(lone(100_000), 9_000, config).kind, "step");
  });
  it("arrivals closer than the wait: wait for company", () => {
    assert.deepEqual(plan(lone(500), 9_000, config), { kind: "wait", waitUs: 2_000, expire: [], stop: [] });
  });
  it("no arrivals seen yet: wait, as before", () => {
    assert.equal(plan(lone(undefined), 9_000, config).kind, "wait");
  });
});

describe("scheduler/loop: runs on an executor with stepRun", () => {
  it("a lone request is one executor call: its encode, then every chunk; frames as chunk by chunk", async () => {
    const byRun = harness({ runs: true });
    const byChunk = harness({ runs: false });
    const a = byRun.submit("a", { k: 3, t: 14 }); // 4 chunks of 4, the last partial
    const b = byChunk.submit("a", { k: 3, t: 14 });
    await settle();
    const runs = (byRun.exec as RunningFakeExecutor).runs;
    assert.deepEqual(runs, [{ chunks: 4, lanes: 3, encodes: 1, ran: 4 }]);
    assert.equal(byRun.exec.encodes.length, 1);
    assert.equal(byRun.exec.steps.length, 4);
    assert.deepEqual(a.end.framesPerCandidate, [14, 14, 14]);
    const frames = (s: typeof a) => s.chunks.map((c) => c.lanes.map((l) => [l.candidateIndex, l.firstFrameIndex, ...l.frames.map((f) => Array.from(f))]));
    assert.deepEqual(frames(a), frames(b));
    // The same actions reached the executor chunk by chunk (padding included).
    assert.deepEqual(
      byRun.exec.steps.map((s) => s.lanes.map((l) => [l.chunkIndex, Array.from(l.actions)])),
      byChunk.exec.steps.map((s) => s.lanes.map((l) => [l.chunkIndex, Array.from(l.actions)])),
    );
    byRun.clean();
    byChunk.clean();
  });

  it("an arrival mid-run interrupts it: the newcomer joins at the next chunk boundary", async () => {
    const h = harness({ runs: true, manual: true });
    h.submit("a", { k: 2, t: 16 });
    await settle(); // a's run: encode + chunk 0 in flight
    const b = h.submit("b", { k: 1, t: 8 });
    h.exec.finishCall(); // chunk 0 of a done
    await settle();
    const runs = (h.exec as RunningFakeExecutor).runs;
    assert.equal(runs[0]!.ran, 1, "the run stopped at the boundary after the arrival");
    assert.deepEqual(
      h.exec.steps[1]!.lanes.map((l) => [l.laneTag, l.chunkIndex]),
      [
        [100, 1],
        [101, 1],
        [200, 0],
      ],
      "a's chunk 1 and b's chunk 0 share the next call",
    );
    while (h.exec.pendingCalls > 0) {
      h.exec.finishCall();
      await settle();
    }
    assert.equal(b.end.reason, "completed");
    h.clean();
  });

  it("a goal set mid-run interrupts it (the goal does not wait behind the whole run); the request still completes", async () => {
    const h = harness({ runs: true, manual: true });
    const a = h.submit("a", { k: 2, t: 16 }); // 4 chunks in one run
    await settle(); // encode + chunk 0 in flight
    const goal = h.scheduler.setGoal({ goalKey: "g", frames: new Uint8Array(12) });
    h.exec.finishCall(); // chunk 0 done
    await settle();
    await goal;
    while (h.exec.pendingCalls > 0) {
      h.exec.finishCall();
      await settle();
    }
    const runs = (h.exec as RunningFakeExecutor).runs;
    assert.equal(runs[0]!.ran, 1, "the run stopped at the boundary after setGoal");
    assert.equal(runs.reduce((n, r) => n + r.ran, 0), 4, "the rest ran in a later run");
    assert.equal(a.end.reason, "completed");
    assert.deepEqual(a.end.framesPerCandidate, [16, 16]);
    h.clean();
  });

  it("a cancel mid-run stops the lane after the chunk in flight, and only delivered frames count", async () => {
    const h = harness({ runs: true, manual: true });
    const a = h.submit("a", { k: 2, t: 16 });
    await settle();
    h.scheduler.cancel("a", [1]);
    h.exec.finishCall();
    await settle();
    while (h.exec.pendingCalls > 0) {
      h.exec.finishCall();
      await settle();
    }
    assert.equal(a.end.reason, "completed");
    assert.deepEqual(a.end.framesPerCandidate, [16, 4]);
    assert.deepEqual(a.deliveredFrames(2), a.end.framesPerCandidate);
    assert.equal((h.exec as RunningFakeExecutor).runs[0]!.ran, 1);
    h.clean();
  });

  it("a deadline passing mid-run stops the request at the next boundary (the timer interrupts the run)", async () => {
    const h = harness({ runs: true, manual: true });
    const a = h.submit("a", { k: 1, t: 16, deadlineUs: 2_500 });
    await settle();
    h.timer.advanceUs(3_000); // during chunk 0
    h.exec.finishCall();
    await settle();
    assert.equal(a.end.reason, "deadline");
    assert.deepEqual(a.end.framesPerCandidate, [4]);
    assert.equal(h.exec.steps.length, 1);
    h.clean();
  });

  it("chunkwise requests run chunk by chunk", async () => {
    const h = harness({ runs: true });
    const a = h.submit("a", { k: 2, t: 16, chunkwise: true });
    await settle();
    assert.deepEqual(
      (h.exec as RunningFakeExecutor).runs.map((r) => r.chunks),
      [1, 1, 1, 1],
    );
    assert.equal(a.end.reason, "completed");
    h.clean();
  });

  it("a failed encode inside a run fails only the requests admitted with it", async () => {
    const h = harness({ runs: true, manual: true });
    const a = h.submit("a", { k: 1, t: 8 });
    await settle(); // a's run, chunk 0 in flight
    h.exec.failEncode = (items) => (items.some((i) => i.stateKey.startsWith("b#")) ? new Error("decoder fault") : undefined);
    const b = h.submit("b", { k: 1, t: 8 });
    h.exec.finishCall();
    await settle(); // a@1 + b's encode in the next run: the encode fails
    while (h.exec.pendingCalls > 0) {
      h.exec.finishCall();
      await settle();
    }
    assert.equal(b.end.reason, "failed");
    assert.equal(b.end.error?.reason, "ENGINE_FAILURE");
    assert.equal(a.end.reason, "completed");
    assert.deepEqual(a.end.framesPerCandidate, [8]);
    h.clean();
  });

  it("the company wait is skipped for a lone control loop, kept for a burst", async () => {
    const h = harness({ runs: true, queueDelayUs: 1_000 });
    h.submit("a", { k: 1, t: 4 });
    h.timer.advanceUs(100_000);
    await settle();
    h.timer.advanceUs(100_000); // the next request of a 10 Hz loop
    const at = h.clock.nowUs();
    h.submit("b", { k: 1, t: 4 });
    await settle();
    assert.equal(h.exec.steps.at(-1)!.atUs, at, "b stepped at its arrival: no company was coming");
    h.timer.advanceUs(100_000);
    const before = h.exec.steps.length;
    h.submit("c", { k: 1, t: 4 }); // c goes at once, like b; d arrives right after it: a burst
    h.submit("d", { k: 1, t: 4 });
    await settle();
    assert.equal(h.exec.steps.length, before, "c and d wait for company: their gap was 0");
    h.timer.advanceUs(1_000);
    await settle();
    assert.equal(h.exec.steps.length, before + 1);
    h.clean();
  });
});
