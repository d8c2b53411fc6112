// End to end over real gRPC on the tiny model: deadlines (too short to start → DEADLINE_EXCEEDED without
// running and a full refund; running out mid-rollout → stop at the next chunk, bill what was generated)
// and runner isolation (a crash, throw or hang injected mid-batch fails exactly that batch's requests
// with ENGINE_FAILURE, voids their holds, the runner is replaced and the next request succeeds).
// No wall-clock assertions: order, counts and money only.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { DreamError, packActions } from "../../clients/typescript/src";
import type { OrtRunner } from "../../gpu/runner";
import type { SchedulerEngine } from "../../src/app/engine";
import { FrameEncoding, type PredictBatchRequest } from "../../src/gen/dream/v1/dream";
import { settledValue, startHarness, testActions, testFrame, until, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const PRICE = 500;
const CHUNK = 12;
const H = 48;
const W = 64;

async function expectError(p: Promise<unknown>, reason: string): Promise<DreamError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DreamError, `expected DreamError ${reason}, got ${String(err)}`);
    assert.equal(err.reason, reason, `reason: ${err.message}`);
    return err;
  }
  assert.fail(`expected ${reason}`);
}

interface StreamOutcome {
  chunks: number[];
  framesPerCandidate: number[];
  error: DreamError | undefined;
}

function suite(name: string, env: Record<string, string>, body: (ctx: () => Ctx) => void): void {
  describe(name, function () {
    this.timeout(180_000);
    let c: Ctx;
    before(async () => {
      const h = await startHarness(env);
      c = new Ctx(h);
    });
    after(async () => c?.h.stop());
    afterEach(async () => c.idle());
    body(() => c);
  });
}

class Ctx {
  readonly engine: SchedulerEngine<OrtRunner>;
  readonly frame = testFrame(H, W);
  readonly startFrame = { encoding: FrameEncoding.RAW_RGB8, data: this.frame, height: H, width: W };

  constructor(readonly h: Harness) {
    this.engine = h.app.registry.get(TINY).engine as SchedulerEngine<OrtRunner>;
  }

  cands(k: number, t: number, offset = 0) {
    return Array.from({ length: k }, (_, i) => packActions(testActions(t, 384, i + offset), t, 384));
  }

  async balance(): Promise<number> {
    return (await this.h.balanceOf(this.h.customerId)).balanceMicros;
  }

  async ledgerCharge(requestId: string): Promise<number> {
    await this.h.app.settled(); // charges post behind their responses
    const txs = await this.h.app.billing.transactions(this.h.customerId, 500);
    const mine = txs.filter((t) => t.requestId === requestId);
    assert.ok(mine.length > 0, `no ledger entries for ${requestId}`);
    return 0 - mine.reduce((s, t) => s + t.amountMicros, 0);
  }

  async holdsSettled(): Promise<boolean> {
    return (await this.h.app.billing.balance(this.h.customerId)).heldMicros === 0;
  }

  async idle(): Promise<void> {
    await until(() => {
      const s = this.engine.scheduler.stats();
      return s.runningRequests === 0 && s.queuedRequests === 0 && this.engine.runner.state === "idle";
    });
    await until(() => this.holdsSettled());
  }

  /** Reads a stream to its end, counting frames per candidate; `onChunk` runs as each chunk arrives. */
  async readStream(request: Partial<PredictBatchRequest> & { model: string }, onChunk?: (chunkIndex: number) => void | Promise<void>, timeoutMs?: number): Promise<StreamOutcome> {
    const k = request.candidates?.length ?? 0;
    const out: StreamOutcome = { chunks: [], framesPerCandidate: new Array<number>(k).fill(0), error: undefined };
    const stream = this.h.client.streamPredict(request, { timeoutMs });
    try {
      for await (const m of stream.messages) {
        if (m.event?.$case !== "chunk") continue;
        out.chunks.push(m.event.value.chunkIndex);
        for (const cand of m.event.value.candidates) out.framesPerCandidate[cand.candidateIndex]! += cand.frames.length;
        await onChunk?.(m.event.value.chunkIndex);
      }
    } catch (err) {
      if (!(err instanceof DreamError)) throw err;
      out.error = err;
    }
    return out;
  }
}

suite("e2e: deadlines (tiny model)", {}, (ctx) => {
  it("a deadline too short to start fails fast as DEADLINE_EXCEEDED without running, fully refunded", async () => {
    const c = ctx();
    // Warm the step estimate with the slow setting the queued case below uses (the plan expires a
    // queued request whose deadline falls within one estimated step).
    await c.h.client.predictBatch({ model: TINY, startFrame: c.startFrame, candidates: c.cands(1, 12), params: { numSteps: 64, seed: 0 } });
    await c.idle();

    // 1) Idle engine: the request is expired by the plan before any encode or step.
    const chunks0 = c.engine.runner.chunksExecuted;
    const stats0 = c.engine.scheduler.stats();
    const before = await c.balance();
    const requestId = randomUUID();
    const err = await expectError(c.h.client.predictBatch({ model: TINY, startFrame: c.startFrame, candidates: c.cands(2, 48), deadlineMs: 1, requestId }), "DEADLINE_EXCEEDED");
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(err.details.frames_generated, "0");
    assert.equal(err.details.charged_micros, "0");
    assert.equal(c.engine.runner.chunksExecuted, chunks0, "nothing ran");
    assert.equal(c.engine.scheduler.stats().encodeCalls, stats0.encodeCalls, "not even the start frame was encoded");
    assert.equal(c.engine.scheduler.stats().ended.deadline, stats0.ended.deadline + 1);
    await until(() => c.holdsSettled());
    assert.equal(await c.balance(), before, "full refund");
    assert.equal(await c.ledgerCharge(requestId), 0);
  });

  it("behind a busy engine, a short-deadline request expires in the queue without running", async () => {
    const c = ctx();
    const K = 2;
    const before = await c.balance();
    const shortId = randomUUID();
    const longId = randomUUID();
    const stats0 = c.engine.scheduler.stats();
    const chunks0 = c.engine.runner.chunksExecuted;
    let shortErr: DreamError | undefined;
    const long = await c.readStream(
      { model: TINY, startFrame: c.startFrame, candidates: c.cands(K, 240), params: { numSteps: 64, seed: 1 }, requestId: longId },
      async (chunkIndex) => {
        if (chunkIndex !== 0) return;
        // The long request is running; the short one must queue until the next chunk boundary.
        shortErr = await expectError(c.h.client.predictBatch({ model: TINY, startFrame: c.startFrame, candidates: c.cands(4, 48), deadlineMs: 1, requestId: shortId }), "DEADLINE_EXCEEDED");
      },
    );
    assert.equal(long.error, undefined, "the long request is unaffected");
    assert.deepEqual(long.framesPerCandidate, [241, 241]);
    assert.ok(shortErr);
    assert.equal(shortErr.details.frames_generated, "0");
    // Every lane stepped belonged to the long request, and only its start frame was encoded.
    const stats = c.engine.scheduler.stats();
    assert.equal(c.engine.runner.chunksExecuted - chunks0, 20);
    assert.equal(stats.laneChunksStepped - stats0.laneChunksStepped, 20 * K, "no lane of the short request ran");
    assert.equal(stats.encodeCalls - stats0.encodeCalls, 1, "the short request was never encoded");
    assert.equal(stats.ended.deadline - stats0.ended.deadline, 1);
    await until(() => c.holdsSettled());
    assert.equal(await c.ledgerCharge(shortId), 0, "the short request is fully refunded");
    assert.equal(await c.ledgerCharge(longId), K * 241 * PRICE);
    assert.equal(before - (await c.balance()), K * 241 * PRICE);
  });

  it("a deadline_ms that runs out mid-rollout stops at the next chunk; every billed frame is delivered before the status", async () => {
    // PNG output: the last chunks are still being encoded when the deadline ends the request, which is
    // exactly when a stream could drop frames it bills.
    const c = ctx();
    const K = 4;
    const T = 240;
    // Aim the deadline at a few chunks in, from the measured step time (retrying longer if the noisy
    // machine let it expire before the first chunk). The assertions hold for any cut point.
    await c.h.client.predictBatch({ model: TINY, startFrame: c.startFrame, candidates: c.cands(K, 12), params: { numSteps: 64, seed: 0 } });
    const stepMs = Math.max(1, c.engine.scheduler.stats().stepUsEstimate / 1000);
    let outcome: StreamOutcome | undefined;
    let requestId = "";
    let before = 0;
    for (const chunksWanted of [4, 8, 12]) {
      requestId = randomUUID();
      before = await c.balance();
      outcome = await c.readStream({
        model: TINY,
        startFrame: c.startFrame,
        candidates: c.cands(K, T),
        params: { numSteps: 64, seed: 2 },
        output: { encoding: FrameEncoding.PNG, jpegQuality: 0 },
        deadlineMs: Math.ceil(stepMs * chunksWanted),
        requestId,
      });
      await c.idle();
      if (Number(outcome.error?.details.frames_generated ?? 1) > 0) break;
    }
    assert.ok(outcome);
    assert.ok(outcome.error, "the stream ends with an error");
    assert.equal(outcome.error.reason, "DEADLINE_EXCEEDED", outcome.error.message);
    assert.equal(outcome.error.code, grpc.status.DEADLINE_EXCEEDED);
    const generated = Number(outcome.error.details.frames_generated);
    const delivered = outcome.framesPerCandidate.reduce((a, b) => a + b, 0);
    assert.ok(generated > 0 && generated < K * (T + 1), `stopped mid-rollout after ${generated} frames`);
    assert.equal(delivered, generated, "every generated (and billed) frame reached the client before the status");
    assert.equal(generated, K * (1 + outcome.chunks.length * CHUNK), "whole chunks, start frame included");
    assert.equal(Number(outcome.error.details.charged_micros), generated * PRICE);
    assert.equal(await c.ledgerCharge(requestId), generated * PRICE);
    assert.equal(before - (await c.balance()), generated * PRICE);
  });

  it("a gRPC deadline that runs out mid-rollout stops the work at a chunk boundary; only generated frames are billed", async () => {
    const c = ctx();
    const K = 2;
    const T = 240;
    const stepMs = Math.max(1, c.engine.scheduler.stats().stepUsEstimate / 1000);
    const requestId = randomUUID();
    const before = await c.balance();
    const chunks0 = c.engine.runner.chunksExecuted;
    const outcome = await c.readStream({ model: TINY, startFrame: c.startFrame, candidates: c.cands(K, T), params: { numSteps: 64, seed: 2 }, requestId }, undefined, Math.ceil(stepMs * 6));
    assert.ok(outcome.error, "the client sees its deadline");
    assert.equal(outcome.error.code, grpc.status.DEADLINE_EXCEEDED);
    await c.idle();
    const executed = (await settledValue(() => c.engine.runner.chunksExecuted)) - chunks0;
    assert.ok(executed < T / CHUNK, `work stopped early: ${executed} chunks`);
    const generated = executed === 0 ? 0 : K * (1 + executed * CHUNK);
    assert.equal(await c.ledgerCharge(requestId), generated * PRICE);
    assert.equal(before - (await c.balance()), generated * PRICE);
  });
});

suite("e2e: runner isolation under injected faults (tiny model)", { DREAM_CHUNK_TIMEOUT_MS: "5000" }, (ctx) => {
  /**
   * Two streams in one batch (the second joins the first at a chunk boundary) and a third request that
   * must queue because the two fill batchLanesMax; the fault is armed once both are stepping together.
   */
  async function faultMidBatch(kind: "crash" | "throw" | "hang") {
    const c = ctx();
    const lanesMax = c.engine.entry.batchLanesMax;
    const half = lanesMax / 2;
    const before = await c.balance();
    const restarts0 = c.engine.runner.restarts;
    const failed0 = c.engine.scheduler.stats().ended.failed;
    const ids = { a: randomUUID(), b: randomUUID(), queued: randomUUID() };
    let armed: Promise<void> | undefined;
    let queued: Promise<Awaited<ReturnType<typeof c.h.client.predictBatch>>> | undefined;
    let bStarted!: () => void;
    const bRunning = new Promise<void>((r) => (bStarted = r));
    let bOutcome: Promise<StreamOutcome> | undefined;
    const aOutcome = await c.readStream({ model: TINY, startFrame: c.startFrame, candidates: c.cands(half, 240), params: { numSteps: 16, seed: 4 }, requestId: ids.a }, async (chunkIndex) => {
      if (chunkIndex !== 0) return;
      bOutcome = c.readStream({ model: TINY, startFrame: c.startFrame, candidates: c.cands(half, 240, 100), params: { numSteps: 16, seed: 4 }, requestId: ids.b }, (bChunk) => {
        if (bChunk !== 0) return;
        // A and B now share every step; C cannot be admitted while they hold all the lanes.
        armed = c.engine.runner.injectFault({ kind, atStep: 1 });
        queued = c.h.client.predictBatch({ model: TINY, startFrame: c.startFrame, candidates: c.cands(1, 24), params: { numSteps: 4, seed: 4 }, requestId: ids.queued });
        bStarted();
      });
      await bRunning;
    });
    const b = await bOutcome!;
    await armed;
    for (const [name, o] of [["A", aOutcome], ["B", b]] as const) {
      assert.ok(o.error, `${name} failed`);
      assert.equal(o.error.reason, "ENGINE_FAILURE", `${name}: ${o.error.message}`);
      assert.equal(o.error.code, grpc.status.INTERNAL);
      assert.ok(o.chunks.length >= 1 && o.chunks.length < 20, `${name} got ${o.chunks.length} chunks before the fault`);
    }
    // The request that was waiting outside the batch is untouched and runs on the (new) runner.
    const c3 = (await queued!).response;
    assert.equal(c3.rollouts[0]!.frames.length, 25);
    assert.equal(c.engine.scheduler.stats().ended.failed, failed0 + 2, "exactly the two batched requests failed");
    await c.idle();
    assert.equal(await c.ledgerCharge(ids.a), 0, "A's hold voided");
    assert.equal(await c.ledgerCharge(ids.b), 0, "B's hold voided");
    assert.equal(await c.ledgerCharge(ids.queued), 25 * PRICE);
    assert.equal(before - (await c.balance()), 25 * PRICE, "balance restored exactly, except the request that succeeded");
    return { restarts: c.engine.runner.restarts - restarts0 };
  }

  async function nextRequestSucceeds() {
    const c = ctx();
    const r = (await c.h.client.predictBatch({ model: TINY, startFrame: c.startFrame, candidates: c.cands(2, 30), params: { numSteps: 4, seed: 9 } })).response;
    assert.equal(r.rollouts.length, 2);
    for (const x of r.rollouts) assert.equal(x.frames.length, 31);
    assert.equal(r.summary?.frames, 62);
  }

  it("a worker crash mid-batch fails exactly that batch with ENGINE_FAILURE; the runner restarts and the next request succeeds", async () => {
    const { restarts } = await faultMidBatch("crash");
    assert.equal(restarts, 1, "the crashed worker was replaced once");
    await nextRequestSucceeds();
  });

  it("a step that throws fails exactly that batch; the worker lives on (no restart)", async () => {
    const { restarts } = await faultMidBatch("throw");
    assert.equal(restarts, 0);
    await nextRequestSucceeds();
  });

  it("a hung step past the chunk timeout fails that batch; the runner restarts and the next request succeeds", async () => {
    const { restarts } = await faultMidBatch("hang");
    assert.equal(restarts, 1);
    await nextRequestSucceeds();
  });
});
