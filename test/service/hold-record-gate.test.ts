// PredictFlow with the hold's durable record written behind the engine's start (BillingPort.reserveGated):
// the engine may run before the ledger has the record, but no chunk reaches the consumer and nothing
// settles before it does; a record the ledger refuses stops the request with nothing delivered, nothing
// posted or voided, and the refusal as the caller's error. Fakes around the flow, no clock or I/O.
import assert from "node:assert/strict";
import pino from "pino";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { HoldRecord } from "../../src/service/hold-record";
import { PredictFlow, type Admitted, type PredictDeps } from "../../src/service/predict-flow";
import { ServerTiming } from "../../src/service/server-timing";
import type { CallContext } from "../../src/service/context";
import type { EngineChunk, EngineRequest, EngineSink, ModelEngine } from "../../src/service/ports";

/** An engine the test drives chunk by chunk. */
class SteppedEngine {
  sink: EngineSink | undefined;
  submitted = 0;
  cancels = 0;
  readonly engine = {
    submit: (_r: EngineRequest, sink: EngineSink) => {
      this.submitted++;
      this.sink = sink;
    },
    cancel: () => {
      this.cancels++;
      return { found: true, cancelled: [], stillRunning: [] };
    },
  } as unknown as ModelEngine;

  chunk(index: number): void {
    void this.sink!.onChunk({ chunkIndex: index, lanes: [{ candidateIndex: 0, firstFrameIndex: index === 0 ? 1 : index * 2 + 1, frames: [new Uint8Array([index]), new Uint8Array([index])] }] });
  }

  end(reason: "completed" | "cancelled", frames: number): void {
    this.sink!.onEnd({ framesPerCandidate: [frames], cancelled: reason === "cancelled" ? [0] : [], reason, engineUs: 10, queueUs: 1 });
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

function setup(record: HoldRecord) {
  const billed: string[] = [];
  const removed: string[] = [];
  const stepped = new SteppedEngine();
  const clock = new FakeClock();
  const deps = {
    inflight: { remove: (id: string) => void removed.push(id) },
    billing: { void: async () => void billed.push("void"), post: async (_a: unknown, _id: string, micros: number) => void billed.push(`post ${micros}`) },
    status: { record: () => undefined },
    clock,
    logger: pino({ level: "silent" }),
    roundDebitsToCent: false,
  } as unknown as PredictDeps;
  const admitted = {
    requestId: "req-gate",
    account: { customerId: "cust-1" },
    slot: { entry: { slug: "fake-model", pricePerFrameMicros: 100, fps: 10 } },
    engine: stepped.engine,
    startFrame: new Uint8Array([255]),
    lanes: [new Float32Array(4)],
    actionSteps: 4,
    params: { numSteps: 1, guidance: 1, seed: 7n },
    priceMicros: 500,
    deadlineUs: undefined,
    priority: "interactive",
    receivedUs: clock.nowUs(),
    engineRequestId: "cust-1/req-gate",
    timing: new ServerTiming(),
    record,
  } as unknown as Admitted;
  const ctx = { requestId: "req-gate", apiKey: undefined, peer: "test", signal: new AbortController().signal, responseHeaders: new Map() } as unknown as CallContext;
  const got: EngineChunk[] = [];
  const run = new PredictFlow(deps).run(admitted, ctx, (c) => void got.push(c));
  return { flow: new PredictFlow(deps), admitted, stepped, billed, removed, got, run };
}

describe("PredictFlow: the hold's record written behind the engine's start", () => {
  it("chunks wait for the record, then reach the consumer in order with the start frame first; settlement comes after", async () => {
    const landed = deferred();
    const { stepped, billed, got, run } = setup(new HoldRecord(landed.promise));
    assert.equal(stepped.submitted, 1, "the engine starts before the record lands");
    stepped.chunk(0);
    stepped.chunk(1);
    await tick();
    assert.equal(got.length, 0, "nothing delivered before the record");
    landed.resolve();
    await tick();
    assert.deepEqual(got.map((c) => c.chunkIndex), [0, 1]);
    assert.deepEqual(Array.from(got[0]!.lanes[0]!.frames[0]!), [255], "chunk 0 carries the start frame first");
    stepped.chunk(2);
    assert.deepEqual(got.map((c) => c.chunkIndex), [0, 1, 2], "later chunks go straight through");
    stepped.end("completed", 4);
    const settled = await run;
    assert.deepEqual(billed, ["post 500"]);
    assert.equal(settled.summary.frames, 5);
  });

  it("a request that ends before its record lands waits for it before settling (Server-Timing 'record')", async () => {
    const landed = deferred();
    const { stepped, billed, got, run, admitted } = setup(new HoldRecord(landed.promise));
    stepped.chunk(0);
    stepped.chunk(1);
    stepped.end("completed", 4);
    await tick();
    assert.deepEqual([billed.length, got.length], [0, 0], "neither settled nor delivered before the record");
    landed.resolve();
    await run;
    assert.deepEqual(got.map((c) => c.chunkIndex), [0, 1]);
    assert.deepEqual(billed, ["post 500"]);
    assert.ok(admitted.timing.get("record") !== undefined, "the wait is reported");
  });

  it("a record refused mid-run stops the engine: nothing delivered, nothing posted or voided, the refusal is the error", async () => {
    const landed = deferred();
    const { stepped, billed, got, run, removed } = setup(new HoldRecord(landed.promise));
    stepped.chunk(0);
    landed.reject(new ServiceError("UNAVAILABLE", "billing is unavailable: the billing ledger is unreachable"));
    await tick();
    assert.equal(stepped.cancels, 1, "the engine request is cancelled");
    stepped.end("cancelled", 2);
    await assert.rejects(run, (e: unknown) => e instanceof ServiceError && e.reason === "UNAVAILABLE" && /ledger is unreachable/.test(e.message));
    assert.deepEqual([got.length, billed.length], [0, 0]);
    assert.deepEqual(removed, ["req-gate"]);
  });

  it("a record refused before run: the engine is never asked", async () => {
    const record = new HoldRecord(Promise.reject(new ServiceError("INSUFFICIENT_CREDITS", "balance too low")));
    await record.known;
    const { stepped, billed, run } = setup(record);
    await assert.rejects(run, (e: unknown) => e instanceof ServiceError && e.reason === "INSUFFICIENT_CREDITS");
    assert.deepEqual([stepped.submitted, billed.length], [0, 0]);
  });

  it("abandon waits for the record: voids a recorded hold, leaves a refused one alone", async () => {
    for (const outcome of ["recorded", "refused"] as const) {
      const landed = deferred();
      const record = new HoldRecord(landed.promise);
      const { flow, admitted, billed, run, stepped } = setup(record);
      stepped.end("completed", 0); // let the run that setup started finish first
      if (outcome === "recorded") landed.resolve();
      else landed.reject(new ServiceError("UNAVAILABLE", "down"));
      await run.catch(() => undefined);
      billed.length = 0;
      await flow.abandon(admitted);
      assert.deepEqual(billed, outcome === "recorded" ? ["void"] : [], outcome);
    }
  });
});
