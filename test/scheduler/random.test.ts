// A seeded random workout: many requests, cancels (whole and partial), deadlines, engine failures and
// clock moves, in random order. Afterwards the invariants must hold for every request and every lane.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { framesInChunk } from "../../src/scheduler/chunks";
import { settle, type RecordingSink } from "./fakes";
import { harness } from "./harness";

/** mulberry32: small, fast, good enough to shuffle a workload reproducibly. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Submitted {
  id: string;
  k: number;
  t: number;
  numSteps: number;
  deadlineUs: number | undefined;
  tagBase: number;
  sink: RecordingSink;
  /** candidate → number of step calls already made when its cancel was accepted. */
  cancelBoundary: Map<number, number>;
}

/**
 * `classes`: requests are interactive or batch from three customers, and paused batch lanes may keep
 * only two states (smallGeometry frames are 12 bytes, the assumed state size), so pauses and evictions
 * happen throughout; an evicted lane steps its chunks again from 0 (recomputed, not delivered).
 */
async function workout(seed: number, requireEveryEnding: boolean, runs = false, classes = false): Promise<void> {
  const random = rng(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
  const h = harness({ manual: true, runs, batchLanesMax: 8, queueDelayUs: 1_500, queueRequestsMax: 6, queueLanesMax: 20, ...(classes ? { pausedStateBytesMax: 24 } : {}) });
  h.exec.manualEncode = true; // so cancels, deadlines and failures also land while an encode is in flight
  const C = h.geometry.chunkSize;
  const requests: Submitted[] = [];
  const byTag = new Map<number, { request: Submitted; candidate: number }>();
  let rejected = 0;

  for (let i = 0; i < 500; i++) {
    const roll = random();
    if (roll < 0.3) {
      const id = `r${i}`;
      const k = int(1, 8);
      const t = int(1, 20);
      const numSteps = random() < 0.75 ? 4 : 8;
      const deadlineUs = random() < 0.25 ? h.clock.nowUs() + int(0, 20_000) : undefined;
      const tagBase = (requests.length + 1) * 10;
      const cls = classes ? { priority: random() < 0.5 ? ("batch" as const) : ("interactive" as const), customerId: `c${int(0, 2)}` } : {};
      try {
        const sink = h.submit(id, { k, t, numSteps, tagBase, ...cls, ...(deadlineUs === undefined ? {} : { deadlineUs }) });
        const request: Submitted = { id, k, t, numSteps, deadlineUs, tagBase, sink, cancelBoundary: new Map() };
        requests.push(request);
        for (let c = 0; c < k; c++) byTag.set(tagBase + c, { request, candidate: c });
      } catch (err) {
        assert.ok(err instanceof ServiceError && err.reason === "UNAVAILABLE" && err.retryAfterS !== undefined, String(err));
        rejected++;
      }
    } else if (roll < 0.45 && requests.length > 0) {
      // Mostly live requests (cancelling ended ones only checks the "unknown" answer).
      const live = requests.filter((x) => x.sink.ends.length === 0);
      const pool = live.length > 0 && random() < 0.85 ? live : requests;
      const r = pool[int(0, pool.length - 1)]!;
      const subset = random() < 0.4 ? undefined : Array.from({ length: r.k }, (_, c) => c).filter(() => random() < 0.5);
      const result = h.scheduler.cancel(r.id, subset);
      if (!result.known) {
        assert.equal(r.sink.ends.length, 1, "only an ended request is unknown");
      } else {
        for (const c of result.cancelled) if (!r.cancelBoundary.has(c)) r.cancelBoundary.set(c, h.exec.steps.length);
        assert.deepEqual([...result.cancelled, ...result.stillRunning].sort((a, b) => a - b), Array.from({ length: r.k }, (_, c) => c));
      }
    } else if (roll < 0.65) {
      h.timer.advanceUs(int(0, 3_000));
    } else if (h.exec.pendingCalls > 0) {
      if (random() < 0.06) h.exec.failPendingCall(new Error(`injected failure ${i}`));
      else h.exec.finishCall();
    }
    await settle();
    const s = h.scheduler.stats();
    assert.ok(s.queuedRequests <= 6 && s.queuedLanes <= 20, "the queue never grows past its bounds");
    assert.ok(s.runningLanes - s.pausedLanes <= 8, "lanes in play never exceed batchLanesMax");
    if (!classes) assert.equal(s.pausedLanes, 0);
  }

  let drained = false;
  const drain = h.scheduler.drain().then(() => (drained = true));
  for (let guard = 0; !drained; guard++) {
    assert.ok(guard < 10_000, "drain finishes");
    if (h.exec.pendingCalls > 0) h.exec.finishCall();
    else h.timer.advanceUs(2_000);
    await settle();
  }
  await drain;

  // --- invariants ---------------------------------------------------------------------------------
  h.exec.assertClean(); // no overlapping calls, no read of a missing state, every state released
  assert.equal(h.scheduler.stats().sinkErrors, 0, "no sink assertion fired (they would be swallowed)");
  assert.ok(requests.length > 50 && rejected >= 0);

  const encodedIds = h.exec.encodes.flatMap((e) => e.keys).map((key) => key.split("#")[0]!);
  if (!classes) assert.equal(new Set(encodedIds).size, encodedIds.length, "each request is encoded at most once");

  const stepped = new Map<number, { index: number; chunkIndex: number; atUs: number }[]>(); // tag → successful steps
  const everStepped = new Map<number, number[]>(); // tag → indices of all step calls (incl. failed)
  for (const step of h.exec.steps) {
    assert.ok(step.lanes.length >= 1 && step.lanes.length <= 8);
    for (const lane of step.lanes) {
      const owner = byTag.get(lane.laneTag);
      assert.ok(owner, `step lane with unknown tag ${lane.laneTag}`);
      assert.equal(owner.request.numSteps, step.numSteps, "lanes in one step share numSteps");
      if (owner.request.deadlineUs !== undefined) assert.ok(step.atUs < owner.request.deadlineUs, `${owner.request.id} stepped past its deadline`);
      assert.ok(encodedIds.includes(owner.request.id), "stepped only after being encoded");
      everStepped.set(lane.laneTag, [...(everStepped.get(lane.laneTag) ?? []), step.index]);
      if (step.outcome === "ok") stepped.set(lane.laneTag, [...(stepped.get(lane.laneTag) ?? []), { index: step.index, chunkIndex: lane.chunkIndex, atUs: step.atUs }]);
    }
  }

  const reasons = { completed: 0, cancelled: 0, deadline: 0, failed: 0 };
  for (const r of requests) {
    const end = r.sink.end; // exactly one onEnd
    reasons[end.reason]++;
    assert.equal(end.framesPerCandidate.length, r.k);
    assert.deepEqual(r.sink.deliveredFrames(r.k), end.framesPerCandidate, `${r.id}: frames delivered == frames reported`);
    for (let c = 0; c < r.k; c++) {
      const tag = r.tagBase + c;
      const all = (stepped.get(tag) ?? []).map((s) => s.chunkIndex);
      // An eviction restarts a lane at chunk 0: each segment runs 0, 1, 2, … and the furthest one is what was delivered.
      const segments = all.reduce<number[][]>((acc, chunk) => (chunk === 0 || acc.length === 0 ? [...acc, [chunk]] : [...acc.slice(0, -1), [...acc.at(-1)!, chunk]]), []);
      for (const seg of segments) assert.deepEqual(seg, seg.map((_, i) => i), `${r.id}/${c}: chunks stepped in order from 0`);
      if (!classes) assert.ok(segments.length <= 1, `${r.id}/${c}: no chunk stepped twice`);
      // (Re-encodes after evictions need no check of their own: the executor records any step that reads
      // a state that does not exist, and assertClean() fails on it.)
      const chunks = segments.reduce((best, seg) => (seg.length > best.length ? seg : best), [] as number[]);
      const generated = chunks.reduce((n, chunk) => n + framesInChunk(r.t, C, chunk), 0);
      assert.equal(end.framesPerCandidate[c], generated, `${r.id}/${c}: reported frames == chunks actually stepped, trimmed`);
      const boundary = r.cancelBoundary.get(c);
      if (boundary !== undefined) {
        const after = (everStepped.get(tag) ?? []).filter((index) => index >= boundary);
        assert.deepEqual(after, [], `${r.id}/${c}: stepped after its cancel boundary`);
      }
    }
    switch (end.reason) {
      case "completed":
        for (let c = 0; c < r.k; c++) if (!end.cancelled.includes(c)) assert.equal(end.framesPerCandidate[c], r.t);
        assert.ok(end.cancelled.length < r.k);
        break;
      case "cancelled":
        assert.deepEqual(end.cancelled, Array.from({ length: r.k }, (_, c) => c));
        break;
      case "deadline":
        assert.equal(end.error?.reason, "DEADLINE_EXCEEDED");
        assert.ok(r.deadlineUs !== undefined);
        if (r.sink.started.length === 0) assert.ok(!encodedIds.includes(r.id), `${r.id}: expired in the queue yet encoded`);
        break;
      case "failed":
        assert.equal(end.error?.reason, "ENGINE_FAILURE");
        break;
    }
    if (end.reason !== "completed") assert.ok(end.framesPerCandidate.every((f) => f <= r.t));
  }
  // The workload should exercise every ending, or the invariants above prove little.
  if (requireEveryEnding) assert.ok(Object.values(reasons).every((n) => n > 0), `every end reason occurs: ${JSON.stringify(reasons)}`);
  assert.equal(h.scheduler.stats().queuedRequests + h.scheduler.stats().runningRequests, 0);
  if (classes && requireEveryEnding) assert.ok(h.scheduler.stats().evictions > 0, `the workout evicted something: ${JSON.stringify(h.scheduler.stats())}`);
}

// SCHEDULER_SEEDS=1-500 explores more seeds (e.g. after changing the loop); a failure names its seed.
function seedsFromEnv(): number[] | undefined {
  const spec = process.env["SCHEDULER_SEEDS"];
  if (!spec) return undefined;
  const [lo, hi] = spec.split("-").map(Number);
  return Array.from({ length: (hi ?? lo!) - lo! + 1 }, (_, i) => lo! + i);
}

describe("scheduler/random workout", () => {
  const fromEnv = seedsFromEnv();
  for (const seed of fromEnv ?? [1, 2, 3, 42, 2026]) {
    it(`seed ${seed}: every request ends once; frames == chunks stepped; nothing steps after a cancel; no leaks`, async () => {
      await workout(seed, fromEnv === undefined);
    });
    // The same workout on an executor that runs chunks back to back (plan.ts rule 5): interrupted at
    // every arrival, cancel and deadline, it must keep every invariant above.
    it(`seed ${seed}, chunks run back to back: the same invariants`, async () => {
      await workout(seed, fromEnv === undefined, true);
    });
    // Interactive and batch requests from three customers, with a state budget that forces evictions.
    for (const runs of [false, true]) {
      it(`seed ${seed}, priority classes${runs ? ", runs" : ""}: the same invariants, with pauses and evictions`, async () => {
        await workout(seed, fromEnv === undefined, runs, true);
      });
    }
  }
});
