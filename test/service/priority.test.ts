// The traffic class a request asks for (Priority) reaches the scheduler with the customer it belongs
// to: validatePriority's table, and PredictFlow handing both to the engine.
import assert from "node:assert/strict";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { Priority } from "../../src/gen/dream/v1/dream";
import type { CallContext } from "../../src/service/context";
import type { EngineRequest, EngineSink, ModelEngine } from "../../src/service/ports";
import { PredictFlow, type Admitted, type PredictDeps } from "../../src/service/predict-flow";
import { HoldRecord } from "../../src/service/hold-record";
import { ServerTiming } from "../../src/service/server-timing";
import { validatePriority } from "../../src/service/validate";

describe("service: priority classes", () => {
  it("validatePriority: unset means the caller's default; INTERACTIVE and BATCH map; anything else names the field", () => {
    assert.equal(validatePriority(undefined, "interactive"), "interactive");
    assert.equal(validatePriority(Priority.PRIORITY_UNSPECIFIED, "batch"), "batch");
    assert.equal(validatePriority(Priority.INTERACTIVE, "batch"), "interactive");
    assert.equal(validatePriority(Priority.BATCH, "interactive"), "batch");
    assert.throws(
      () => validatePriority(9 as Priority, "interactive"),
      (e: unknown) => e instanceof ServiceError && e.reason === "INVALID_ARGUMENT" && e.details.field === "priority",
    );
  });

  it("PredictFlow.run submits the admitted priority and the account's customer to the engine", async () => {
    const seen: EngineRequest[] = [];
    const engine = {
      submit(request: EngineRequest, sink: EngineSink) {
        seen.push(request);
        queueMicrotask(() => sink.onEnd({ framesPerCandidate: [0], cancelled: [], reason: "completed", engineUs: 0, queueUs: 0 }));
      },
      cancel: () => ({ found: true, cancelled: [], stillRunning: [] }),
    } as unknown as ModelEngine;
    const clock = new FakeClock();
    const deps = { inflight: { remove: () => undefined }, billing: { post: async () => undefined, void: async () => undefined }, status: { record: () => undefined }, clock, logger: { info: () => undefined, error: () => undefined }, roundDebitsToCent: false } as unknown as PredictDeps;
    const admitted = {
      requestId: "r1",
      account: { customerId: "cust-9" },
      slot: { entry: { slug: "m", pricePerFrameMicros: 500, fps: 10 } },
      engine,
      startFrame: new Uint8Array(12),
      lanes: [new Float32Array(4)],
      actionSteps: 1,
      params: { numSteps: 1, guidance: 1, seed: 1n },
      priceMicros: 1_000,
      deadlineUs: undefined,
      priority: "batch",
      receivedUs: clock.nowUs(),
      engineRequestId: "cust-9/r1",
      timing: new ServerTiming(),
      record: HoldRecord.recorded(),
    } as unknown as Admitted;
    const ctx = { requestId: "r1", signal: new AbortController().signal, responseHeaders: new Map() } as unknown as CallContext;
    await new PredictFlow(deps).run(admitted, ctx, () => undefined);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.priority, "batch");
    assert.equal(seen[0]!.customerId, "cust-9");
  });
});
