// Table tests for the pure batching decision. No loop, no executor: state in, decision out.
import assert from "node:assert/strict";
import { plan, type LaneRef, type PlanConfig, type PlanState, type QueuedView, type RunningView } from "../../src/scheduler/plan";

const config: PlanConfig = { batchLanesMax: 8, queueDelayUs: 2_000, stepUsEstimate: 0, runChunksMax: 1 };

function q(requestId: string, o: { k?: number; chunks?: number; numSteps?: number; at?: number; deadlineUs?: number; seq?: number } = {}): QueuedView {
  return {
    requestId,
    candidates: Array.from({ length: o.k ?? 1 }, (_, i) => i),
    chunkCount: o.chunks ?? 4,
    numSteps: o.numSteps ?? 4,
    enqueuedUs: o.at ?? 0,
    deadlineUs: o.deadlineUs,
    readySeq: o.seq ?? 100,
  };
}

function r(requestId: string, o: { k?: number; next?: number; chunks?: number; numSteps?: number; deadlineUs?: number; seq?: number } = {}): RunningView {
  return {
    requestId,
    candidates: Array.from({ length: o.k ?? 1 }, (_, i) => i),
    nextChunk: o.next ?? 1,
    chunkCount: o.chunks ?? 4,
    numSteps: o.numSteps ?? 4,
    deadlineUs: o.deadlineUs,
    readySeq: o.seq ?? 50,
  };
}

function state(running: RunningView[], queued: QueuedView[], draining = false): PlanState {
  return { running, queued, draining };
}

/** "id/candidate@chunk" per lane, for compact expectations. */
function lanesOf(refs: LaneRef[]): string[] {
  return refs.map((l) => `${l.requestId}/${l.candidateIndex}@${l.chunkIndex}`);
}

function step(p: ReturnType<typeof plan>) {
  assert.equal(p.kind, "step", `expected a step, got ${JSON.stringify(p)}`);
  return p as Extract<typeof p, { kind: "step" }>;
}

describe("scheduler/plan", () => {
  describe("wait vs go", () => {
    const cases: { name: string; s: PlanState; nowUs: number; cfg?: Partial<PlanConfig>; expect: string }[] = [
      { name: "nothing to do → idle", s: state([], []), nowUs: 0, expect: "idle" },
      { name: "lone small request, delay not over → wait the rest", s: state([], [q("a", { k: 2, at: 1_000 })]), nowUs: 1_500, expect: "wait 1500" },
      { name: "lone small request, delay over → go", s: state([], [q("a", { k: 2, at: 1_000 })]), nowUs: 3_000, expect: "step" },
      { name: "delay counts from the oldest arrival", s: state([], [q("a", { at: 0 }), q("b", { at: 1_900 })]), nowUs: 1_900, expect: "wait 100" },
      { name: "a full batch queued → go at once", s: state([], [q("a", { k: 4 }), q("b", { k: 4 })]), nowUs: 0, expect: "step" },
      { name: "queueDelayUs 0 → go at once", s: state([], [q("a")]), nowUs: 0, cfg: { queueDelayUs: 0 }, expect: "step" },
      { name: "draining: no company is coming → go", s: state([], [q("a")], true), nowUs: 0, expect: "step" },
      { name: "waiting would cost a deadline → go", s: state([], [q("a", { deadlineUs: 1_500 })]), nowUs: 0, expect: "step" },
      {
        name: "waiting would cost a deadline given the step estimate → go",
        s: state([], [q("a", { deadlineUs: 2_500 })]),
        nowUs: 0,
        cfg: { stepUsEstimate: 600 },
        expect: "step",
      },
      { name: "deadline comfortably after the wait → wait", s: state([], [q("a", { deadlineUs: 50_000 })]), nowUs: 0, expect: "wait 2000" },
      { name: "something running → never wait, newcomers join now", s: state([r("x")], [q("a", { at: 0 })]), nowUs: 0, expect: "step" },
    ];
    for (const c of cases) {
      it(c.name, () => {
        const p = plan(c.s, c.nowUs, { ...config, ...c.cfg });
        const got = p.kind === "wait" ? `wait ${p.waitUs}` : p.kind;
        assert.equal(got, c.expect);
      });
    }
  });

  describe("capacity and admission", () => {
    it("a newcomer joins running lanes at the next chunk boundary (iteration-level batching)", () => {
      const p = step(plan(state([r("x", { k: 2, next: 2 })], [q("a", { k: 3 })]), 0, config));
      assert.deepEqual(p.admit, ["a"]);
      assert.deepEqual(lanesOf(p.lanes), ["x/0@2", "x/1@2", "a/0@0", "a/1@0", "a/2@0"]);
    });

    it("admits oldest first up to batchLanesMax, never splitting a request's candidates", () => {
      const p = step(plan(state([r("x", { k: 4, chunks: 4, next: 1 })], [q("a", { k: 3 }), q("b", { k: 3 }), q("c", { k: 1, chunks: 3 })]), 0, config));
      // a fits (7/8); b needs 3 of the 1 left: blocked, not split; c (1 lane, 3 chunks ≤ shadow 3) backfills.
      assert.deepEqual(p.admit, ["a", "c"]);
      assert.equal(p.lanes.length, 8);
      assert.ok(!p.lanes.some((l) => l.requestId === "b"));
    });

    it("a request that does not fit is not admitted at all", () => {
      const p = step(plan(state([r("x", { k: 6 })], [q("a", { k: 4 })]), 0, config));
      assert.deepEqual(p.admit, []);
      assert.deepEqual(lanesOf(p.lanes), ["x/0@1", "x/1@1", "x/2@1", "x/3@1", "x/4@1", "x/5@1"]);
    });

    it("only live candidates count and step (partly cancelled queued request)", () => {
      const partial: QueuedView = { ...q("a", { k: 8 }), candidates: [1, 6] };
      const p = step(plan(state([r("x", { k: 6 })], [partial]), 0, config));
      assert.deepEqual(p.admit, ["a"]);
      assert.deepEqual(lanesOf(p.lanes).slice(6), ["a/1@0", "a/6@0"]);
    });
  });

  describe("no starvation (backfill that never delays the blocked head)", () => {
    // Running x holds 4 of 8 lanes with 2 chunks left; head h needs 8 → it can start in 2 chunks (the shadow).
    it("a short request that finishes within the shadow may overtake the head", () => {
      const p = step(plan(state([r("x", { k: 4, chunks: 4, next: 2 })], [q("h", { k: 8 }), q("s", { k: 2, chunks: 2 })]), 0, config));
      assert.deepEqual(p.admit, ["s"]);
    });

    it("a long request that would still hold lanes the head needs may not", () => {
      const p = step(plan(state([r("x", { k: 4, chunks: 4, next: 2 })], [q("h", { k: 8 }), q("s", { k: 2, chunks: 3 })]), 0, config));
      assert.deepEqual(p.admit, []);
    });

    it("a long request may use lanes the head will not need", () => {
      // head needs 6: at the shadow 8 are free, 2 spare. One long 2-lane request fits in those; a second does not.
      const p = step(plan(state([r("x", { k: 4, chunks: 4, next: 2 })], [q("h", { k: 6 }), q("l1", { k: 2, chunks: 9 }), q("l2", { k: 2, chunks: 9 })]), 0, config));
      assert.deepEqual(p.admit, ["l1"]);
    });

    it("a big request is admitted despite a steady stream of small ones (simulation)", () => {
      // Each round: one new 2-lane, 3-chunk request arrives; plan; run the step; retire finished requests.
      // Greedy admission would keep the 8-lane head out forever; the policy admits it once x finishes.
      let running: RunningView[] = [r("x", { k: 6, chunks: 5, next: 0, seq: 0 })];
      let queued: QueuedView[] = [q("head", { k: 8, chunks: 2, seq: 1 })];
      let seq = 2;
      let headAdmittedAt = -1;
      for (let round = 0; round < 40 && headAdmittedAt < 0; round++) {
        queued.push(q(`s${round}`, { k: 2, chunks: 3, seq: seq++ }));
        const p = step(plan(state(running, queued), round * 10_000, config));
        if (p.admit.includes("head")) headAdmittedAt = round;
        for (const id of p.admit) {
          const v = queued.find((x) => x.requestId === id)!;
          running.push({ ...v, nextChunk: 0 });
        }
        queued = queued.filter((x) => !p.admit.includes(x.requestId));
        const stepped = new Set(p.lanes.map((l) => l.requestId));
        assert.ok(p.lanes.length <= config.batchLanesMax);
        running = running.map((x) => (stepped.has(x.requestId) ? { ...x, nextChunk: x.nextChunk + 1, readySeq: seq++ } : x)).filter((x) => x.nextChunk < x.chunkCount);
      }
      // x needs 5 steps; the head starts right after it.
      assert.equal(headAdmittedAt, 5);
    });
  });

  describe("numSteps grouping", () => {
    it("steps the group of whoever waited longest; the other group waits its turn", () => {
      const p = step(plan(state([r("x", { numSteps: 4, seq: 9 }), r("y", { numSteps: 8, seq: 5 }), r("z", { numSteps: 8, seq: 12 })], []), 0, config));
      assert.equal(p.numSteps, 8);
      assert.deepEqual(lanesOf(p.lanes), ["y/0@1", "z/0@1"]);
    });

    it("a newcomer with different numSteps is admitted and runs its first chunk next", () => {
      const p = step(plan(state([r("x", { numSteps: 4, seq: 9 })], [q("a", { numSteps: 8, seq: 7 }), q("b", { numSteps: 4, seq: 8 })]), 0, config));
      assert.deepEqual(p.admit, ["a", "b"]);
      assert.equal(p.numSteps, 8);
      assert.deepEqual(lanesOf(p.lanes), ["a/0@0"]);
    });
  });

  describe("deadlines", () => {
    it("a queued request past its deadline expires without being admitted", () => {
      const p = plan(state([], [q("late", { deadlineUs: 1_000 }), q("ok", { deadlineUs: 90_000 })]), 1_000, { ...config, queueDelayUs: 0 });
      assert.deepEqual(p.expire, ["late"]);
      assert.deepEqual(step(p).admit, ["ok"]);
    });

    it("a queued request that cannot finish one chunk before its deadline expires", () => {
      const p = plan(state([], [q("tight", { deadlineUs: 1_500 }), q("ok", { deadlineUs: 2_500 })]), 1_000, { ...config, stepUsEstimate: 1_000 });
      assert.deepEqual(p.expire, ["tight"]);
      assert.deepEqual(step(p).admit, ["ok"]);
    });

    it("a running request past its deadline stops; the others keep stepping", () => {
      const p = step(plan(state([r("late", { deadlineUs: 500 }), r("ok", { deadlineUs: 5_000 })], []), 500, config));
      assert.deepEqual(p.stop, ["late"]);
      assert.deepEqual(lanesOf(p.lanes), ["ok/0@1"]);
    });

    it("everything expired → idle, with the expiries reported", () => {
      const p = plan(state([r("a", { deadlineUs: 10 })], [q("b", { deadlineUs: 10 })]), 10, config);
      assert.equal(p.kind, "idle");
      assert.deepEqual([p.stop, p.expire], [["a"], ["b"]]);
    });
  });
});
