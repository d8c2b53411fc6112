// PredictFlow.run with fakes around it: when the consumer of chunks throws something that is not a
// ServiceError (an HTTP/2 write error while delivering frames), the client gets INTERNAL "internal
// error", and the log gets that failure, once, at error level, with the request id and its cause.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import pino from "pino";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import type { Logger } from "../../src/observability/logger";
import { PredictFlow, type Admitted, type PredictDeps } from "../../src/service/predict-flow";
import { HoldRecord } from "../../src/service/hold-record";
import { ServerTiming } from "../../src/service/server-timing";
import type { CallContext } from "../../src/service/context";
import type { EngineRequest, EngineSink, ModelEngine } from "../../src/service/ports";

interface LogLine {
  level: number;
  msg: string;
  requestId?: string;
  err?: { message?: string; type?: string };
}

function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString("utf8").split("\n")) if (l.trim() !== "") lines.push(JSON.parse(l) as LogLine);
      done();
    },
  });
  return { logger: pino({ level: "info" }, sink), lines };
}

/** An engine that produces one chunk of one frame per lane and ends once the consumer has taken it. */
function oneChunkEngine(): ModelEngine {
  return {
    submit(request: EngineRequest, sink: EngineSink) {
      const lanes = request.lanes.map((_, i) => ({ candidateIndex: i, firstFrameIndex: 1, frames: [new Uint8Array(12)] }));
      void Promise.resolve(sink.onChunk({ chunkIndex: 0, lanes })).then(() =>
        sink.onEnd({ framesPerCandidate: request.lanes.map(() => 1), cancelled: [], reason: "completed", engineUs: 10, queueUs: 1 }),
      );
    },
    cancel: () => ({ found: true, cancelled: [], stillRunning: [] }),
  } as unknown as ModelEngine;
}

function setup(logger: Logger): { flow: PredictFlow; admitted: Admitted; ctx: CallContext; settled: string[] } {
  const settled: string[] = [];
  const clock = new FakeClock();
  const deps = {
    inflight: { remove: () => undefined },
    billing: { void: async () => void settled.push("void"), post: async (_a: unknown, _id: string, micros: number) => void settled.push(`post ${micros}`) },
    status: { record: () => undefined },
    clock,
    logger,
    roundDebitsToCent: false,
  } as unknown as PredictDeps;
  const engine = oneChunkEngine();
  const admitted = {
    requestId: "req-consumer-1",
    account: { customerId: "cust-1" },
    slot: { entry: { slug: "fake-model", pricePerFrameMicros: 100, fps: 10 } },
    engine,
    startFrame: new Uint8Array(12),
    lanes: [new Float32Array(4)],
    actionSteps: 1,
    params: { numSteps: 1, guidance: 1, seed: 7n },
    priceMicros: 1_000,
    deadlineUs: undefined,
    receivedUs: clock.nowUs(),
    engineRequestId: "cust-1/req-consumer-1",
    timing: new ServerTiming(),
    record: HoldRecord.recorded(),
  } as unknown as Admitted;
  const ctx = { requestId: "req-consumer-1", apiKey: undefined, peer: "test", signal: new AbortController().signal, responseHeaders: new Map() } as unknown as CallContext;
  return { flow: new PredictFlow(deps), admitted, ctx, settled };
}

describe("PredictFlow: a consumer that fails while receiving chunks", () => {
  for (const style of ["rejects", "throws"] as const) {
    it(`(${style}) answers INTERNAL without the cause and logs the cause once, at error level, with the request id`, async () => {
      const { logger, lines } = capturingLogger();
      const { flow, admitted, ctx } = setup(logger);
      const writeError = Object.assign(new Error("write after end: HTTP/2 stream closed"), { code: "ERR_HTTP2_INVALID_STREAM" });
      const onChunk = style === "rejects" ? () => Promise.reject(writeError) : () => { throw writeError; };
      const err = await flow.run(admitted, ctx, onChunk).then(
        () => assert.fail("run should throw"),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ServiceError);
      assert.equal(err.reason, "INTERNAL");
      assert.equal(err.message, "internal error");
      assert.ok(!JSON.stringify(err.details).includes("HTTP/2"), "the cause must not reach the client");
      assert.equal(err.cause, writeError);
      const logged = lines.filter((l) => l.level >= 50);
      assert.equal(logged.length, 1, `expected one error line, got ${JSON.stringify(lines)}`);
      assert.equal(logged[0]!.requestId, "req-consumer-1");
      assert.equal(logged[0]!.err?.message, "write after end: HTTP/2 stream closed");
    });
  }

  it("does not log a ServiceError the consumer chose (e.g. CANCELLED) as a failure", async () => {
    const { logger, lines } = capturingLogger();
    const { flow, admitted, ctx } = setup(logger);
    const cancelled = new ServiceError("CANCELLED", "the client cancelled the request");
    const err = await flow.run(admitted, ctx, () => Promise.reject(cancelled)).then(
      () => assert.fail("run should throw"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServiceError);
    assert.equal(err.reason, "CANCELLED");
    assert.deepEqual(lines.filter((l) => l.level >= 50), []);
  });
});
