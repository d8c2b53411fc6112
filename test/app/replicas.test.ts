// ReplicatedEngine (src/app/replicas.ts) over schedulers driving fake executors on a fake clock:
// placement spreads requests, a request stays on its replica, a failing replica fails only its own
// requests, a replica whose runner gave up is replaced, and cancels and goals reach the right runners.
import assert from "node:assert/strict";
import { SchedulerEngine, type RunnerHandle } from "../../src/app/engine";
import { ReplicatedEngine } from "../../src/app/replicas";
import type { CatalogEntry } from "../../src/config/catalog";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { ModelScheduler } from "../../src/scheduler";
import { ManualTimer } from "../../src/scheduler/timer";
import type { EngineEnd, EngineRequest } from "../../src/service/ports";
import { FakeExecutor, makeRequest, settle } from "../scheduler/fakes";
import { smallGeometry } from "../scheduler/harness";

const entry = { slug: "fake-model", batchLanesMax: 8 } as unknown as CatalogEntry;

class FakeRunner implements RunnerHandle {
  state = "idle";
  restarts = 0;
  closed = false;
  async close(): Promise<void> {
    this.closed = true;
  }
}

function replica(clock: FakeClock, tag: string) {
  const exec = new FakeExecutor(smallGeometry, clock);
  const runner = new FakeRunner();
  const scheduler = new ModelScheduler({ executor: exec, batchLanesMax: 8, queueDelayUs: 0, clock, timer: new ManualTimer(clock), model: tag });
  return { exec, runner, engine: new SchedulerEngine(entry, scheduler, runner) };
}

function request(id: string, k: number, t = 8): EngineRequest {
  const r = makeRequest(smallGeometry, id, { k, t });
  return { requestId: id, lanes: r.lanes, actionSteps: t, startFrame: r.startFrame, numSteps: r.numSteps, guidance: r.guidance, seed: r.seed, deadlineUs: undefined };
}

function submit(engine: ReplicatedEngine, req: EngineRequest): Promise<EngineEnd> {
  return new Promise((resolve) => engine.submit(req, { onChunk: () => undefined, onEnd: resolve }));
}

/** Which replica's executor encoded each request (keys are "<id>#<serial>/start"). */
function encodedOn(execs: FakeExecutor[]): Map<string, number> {
  const on = new Map<string, number>();
  execs.forEach((e, i) => e.encodes.flatMap((x) => x.keys).forEach((key) => on.set(key.split("#")[0]!, i)));
  return on;
}

describe("app/ReplicatedEngine: one model on several runners", () => {
  it("spreads concurrent requests over the replicas, and each runs wholly on the one it was placed on", async () => {
    const clock = new FakeClock();
    const rs = [replica(clock, "r0"), replica(clock, "r1")];
    const engine = new ReplicatedEngine(entry, rs.map((r, i) => ({ device: `cpu#${i}`, engine: r.engine })));
    const ends = await Promise.all(["a", "b", "c", "d"].map((id) => submit(engine, request(id, 4))));
    for (const e of ends) assert.equal(e.reason, "completed");
    const on = encodedOn(rs.map((r) => r.exec));
    assert.deepEqual([on.get("a"), on.get("b"), on.get("c"), on.get("d")], [0, 1, 0, 1]);
    rs.forEach((r, i) => {
      for (const step of r.exec.steps) for (const lane of step.lanes) assert.equal(encodedOn([r.exec]).has(lane.inStateKey.split("#")[0]!), true, `replica ${i} stepped only requests it encoded`);
      r.exec.assertClean();
    });
    assert.equal(engine.stats().replicas?.length, 2);
  });

  it("a replica that is not serving (restarting) gets no new requests", async () => {
    const clock = new FakeClock();
    const rs = [replica(clock, "r0"), replica(clock, "r1")];
    rs[0]!.runner.state = "restarting";
    const engine = new ReplicatedEngine(entry, rs.map((r, i) => ({ device: `cpu#${i}`, engine: r.engine })));
    await Promise.all(["a", "b", "c"].map((id) => submit(engine, request(id, 2))));
    assert.equal(rs[0]!.exec.encodes.length, 0);
    assert.equal(engine.stats().replicas![0]!.runnerState, "restarting");
    rs[1]!.runner.state = "failed";
    assert.throws(() => engine.submit(request("z", 1), { onChunk: () => undefined, onEnd: () => undefined }), (e: unknown) => e instanceof ServiceError && e.reason === "UNAVAILABLE");
  });

  it("a replica whose runner fails fails only its own requests; the other replica's complete", async () => {
    const clock = new FakeClock();
    const rs = [replica(clock, "r0"), replica(clock, "r1")];
    rs[1]!.exec.failStep = () => new ServiceError("ENGINE_FAILURE", "runner worker exited");
    const engine = new ReplicatedEngine(entry, rs.map((r, i) => ({ device: `cpu#${i}`, engine: r.engine })));
    const ids = ["a", "b", "c", "d"];
    const ends = await Promise.all(ids.map((id) => submit(engine, request(id, 4))));
    const on = encodedOn(rs.map((r) => r.exec));
    ids.forEach((id, i) => assert.equal(ends[i]!.reason, on.get(id) === 1 ? "failed" : "completed", id));
    assert.ok(ends.some((e) => e.reason === "completed") && ends.some((e) => e.reason === "failed"));
  });

  it("cancel reaches the replica holding the request; goals go to every replica", async () => {
    const clock = new FakeClock();
    const rs = [replica(clock, "r0"), replica(clock, "r1")];
    for (const r of rs) r.exec.manual = true;
    const engine = new ReplicatedEngine(entry, rs.map((r, i) => ({ device: `cpu#${i}`, engine: r.engine })));
    const a = submit(engine, request("a", 4, 40));
    const b = submit(engine, request("b", 4, 40));
    await settle();
    assert.equal(engine.cancel("b").found, true);
    assert.equal(engine.cancel("nope").found, false);
    for (const r of rs) while (r.exec.pendingCalls > 0) {
      r.exec.finishCall();
      await settle();
    }
    assert.equal((await a).reason, "completed");
    assert.equal((await b).reason, "cancelled");
    await engine.setGoal("g1", new Uint8Array(12));
    for (const r of rs) assert.ok(r.exec.goals.has("g1"));
    engine.releaseGoal(["g1"]);
    for (const r of rs) assert.ok(!r.exec.goals.has("g1"));
  });

  it("a replica whose runner gave up is replaced by a fresh one, which then serves", async () => {
    const clock = new FakeClock();
    const rs = [replica(clock, "r0"), replica(clock, "r1")];
    const fresh = replica(clock, "r1-new");
    const replaced: number[] = [];
    const engine = new ReplicatedEngine(entry, rs.map((r, i) => ({ device: `cpu#${i}`, engine: r.engine })), {
      replace: async (index) => {
        replaced.push(index);
        return fresh.engine;
      },
    });
    rs[1]!.runner.state = "failed";
    engine.stats(); // a status poll notices it
    await settle();
    assert.deepEqual(replaced, [1]);
    assert.equal(engine.members[1]!.engine, fresh.engine);
    assert.ok(rs[1]!.runner.closed, "the failed runner is closed");
    await Promise.all(["a", "b"].map((id) => submit(engine, request(id, 4))));
    assert.ok(fresh.exec.encodes.length > 0, "the new replica serves");
  });
});
