// Two CPU replicas of the tiny model in one server (DREAM_EXECUTION_PROVIDER=cpu*2): requests spread
// over both; killing one replica's worker mid-traffic fails only the requests placed on it (their holds
// voided), the other replica's requests complete and are charged, the killed runner restarts, and both
// serve again. Status reports each replica.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { DreamError, packActions } from "../../clients/typescript/src";
import type { OrtRunner } from "../../gpu/runner";
import type { SchedulerEngine } from "../../src/app/engine";
import type { ReplicatedEngine } from "../../src/app/replicas";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import { startHarness, testActions, testFrame, until, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const PRICE = 500;
const H = 48;
const W = 64;

describe("e2e: two replicas of one model, one killed mid-traffic", function () {
  this.timeout(180_000);
  let h: Harness;
  let engine: ReplicatedEngine;
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: testFrame(H, W), height: H, width: W };
  const cands = (k: number, t: number, offset = 0) => Array.from({ length: k }, (_, i) => packActions(testActions(t, 384, i + offset), t, 384));
  const replica = (i: number) => engine.members[i]!.engine as SchedulerEngine<OrtRunner>;

  before(async () => {
    h = await startHarness({ DREAM_EXECUTION_PROVIDER: "cpu*2", DREAM_INTRA_OP_THREADS: "1" });
    engine = h.app.registry.get(TINY).engine as ReplicatedEngine;
  });
  after(() => h?.stop());

  async function chargeOf(requestId: string): Promise<number> {
    await h.app.settled();
    const txs = await h.app.billing.transactions(h.customerId, 500);
    return 0 - txs.filter((t) => t.requestId === requestId).reduce((s, t) => s + t.amountMicros, 0);
  }

  it("spreads concurrent requests over both replicas", async () => {
    const results = await Promise.all(Array.from({ length: 4 }, (_, i) => h.client.predictBatch({ model: TINY, startFrame, candidates: cands(2, 24, i), params: { numSteps: 4, seed: 1 } })));
    for (const r of results) assert.equal(r.response.summary?.frames, 2 * 25);
    const chunks = [0, 1].map((i) => replica(i).scheduler.stats().chunksStepped);
    assert.ok(chunks.every((n) => n > 0), `both replicas stepped: ${chunks.join(", ")}`);
  });

  it("a killed replica fails only its own requests; the other's complete and are charged; it restarts and serves again", async () => {
    const before = (await h.balanceOf(h.customerId)).balanceMicros;
    const ids = Array.from({ length: 6 }, () => randomUUID());
    const calls = ids.map((requestId, i) => h.client.predictBatch({ model: TINY, startFrame, candidates: cands(4, 240, i), params: { numSteps: 16, seed: 2 }, requestId }).then((r) => r.response, (e: unknown) => e));
    // Every request placed and stepping on its replica before the kill.
    await until(() => replica(0).scheduler.stats().runningRequests + replica(1).scheduler.stats().runningRequests === ids.length && replica(0).scheduler.stats().chunksStepped > 0 && replica(1).scheduler.stats().chunksStepped > 0);
    const onVictim = replica(1).scheduler.stats().runningRequests;
    const onSurvivor = replica(0).scheduler.stats().runningRequests;
    assert.ok(onVictim > 0 && onSurvivor > 0, `placed ${onSurvivor} + ${onVictim}`);
    const restarts0 = replica(1).runner.restarts;
    replica(1).runner.killWorker();
    const outcomes = await Promise.all(calls);
    const failed = outcomes.filter((o) => o instanceof DreamError);
    const completed = outcomes.filter((o) => !(o instanceof Error));
    for (const f of failed) assert.equal((f as DreamError).reason, "ENGINE_FAILURE");
    assert.equal(failed.length, onVictim, `exactly the killed replica's requests failed: ${outcomes.map((o) => (o instanceof Error ? o.message : "ok")).join(" | ")}`);
    assert.equal(completed.length, onSurvivor);
    for (const c of completed) assert.equal((c as { summary?: { frames: number } }).summary?.frames, 4 * 241);
    // Money: the failed ones voided, the completed ones charged exactly.
    let charged = 0;
    for (const id of ids) charged += await chargeOf(id);
    assert.equal(charged, onSurvivor * 4 * 241 * PRICE);
    await until(async () => (await h.balanceOf(h.customerId)).heldMicros === 0);
    assert.equal(before - (await h.balanceOf(h.customerId)).balanceMicros, charged, "the balance moved by exactly the completed requests");
    // The killed worker was replaced; both replicas serve again.
    await until(() => replica(1).runner.state === "idle");
    assert.equal(replica(1).runner.restarts, restarts0 + 1);
    const after = await Promise.all(Array.from({ length: 4 }, (_, i) => h.client.predictBatch({ model: TINY, startFrame, candidates: cands(2, 24, i), params: { numSteps: 4, seed: 3 } })));
    for (const r of after) assert.equal(r.response.summary?.frames, 50);
  });

  it("/v1/status lists each replica with its device, state and restarts", async () => {
    const res = await fetch(`${h.httpBase}/v1/status`);
    const body = (await res.json()) as { models: { slug: string; replicas: { index: number; device: string; runner_state: string; runner_restarts: string | number }[] }[] };
    const tiny = body.models.find((m) => m.slug === TINY)!;
    assert.deepEqual(tiny.replicas.map((r) => [r.index, r.device]), [[0, "cpu"], [1, "cpu"]]);
    assert.equal(Number(tiny.replicas[1]!.runner_restarts), 1);
    assert.deepEqual(tiny.replicas.map((r) => r.runner_state), ["idle", "idle"]);
    const metrics = await (await fetch(`${h.httpBase}/metrics`)).text();
    assert.match(metrics, /^dream_replica_up\{model="dream-reference-tiny",replica="1",device="cpu"\} 1$/m);
  });
});
