// The TS client's retry rules (clients/typescript/src/retry.ts) against a scripted server: which
// failures are sent again, how long it waits (the server's RetryInfo as a floor), and where it stops.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { DreamClient, DreamError, RETRYABLE_REASONS } from "../../clients/typescript/src";
import { backoffMs, DEFAULT_RETRY_POLICY } from "../../clients/typescript/src/retry";
import { FrameEncoding, PredictBatchResponse } from "../../src/gen/dream/v1/dream";
import { FakeEngine, okStatus, rejection, type Failure } from "./fake-engine";

const batch = (requestId = "") => ({
  model: "m",
  startFrame: { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(12), height: 2, width: 2 },
  candidates: [{ data: new Uint8Array(8), shape: [1, 2] }],
  requestId,
});

describe("TS client: retries", function () {
  this.timeout(20_000);
  let engine: FakeEngine;
  let client: DreamClient;
  beforeEach(async () => {
    engine = await FakeEngine.start();
    client = new DreamClient({ address: engine.address, retryBackoffMs: 20, retryBackoffMsMax: 80 });
  });
  afterEach(async () => {
    client.close();
    await engine.stop();
  });

  it("resends a RATE_LIMITED call after the server's RetryInfo delay, then returns its answer", async () => {
    engine.status = [{ fail: { code: grpc.status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED", retryAfterMs: 300 } }, okStatus()];
    const status = await client.getStatus();
    assert.equal(status.version, "fake");
    const [first, second] = engine.callsOf("getStatus");
    assert.ok(second, "sent twice");
    assert.ok(second.atMs - first!.atMs >= 295, `waited ${second.atMs - first!.atMs} ms for a 300 ms RetryInfo`);
  });

  it("resends UNAVAILABLE (queue full, draining) up to `retries` times, then rejects with the last error", async () => {
    const unavailable = { fail: { code: grpc.status.UNAVAILABLE, reason: "UNAVAILABLE" } };
    engine.status = [unavailable, unavailable, unavailable, unavailable];
    const err = await rejection(client.getStatus());
    assert.equal(err.reason, "UNAVAILABLE");
    assert.equal(err.fromServer, true);
    assert.equal(engine.callsOf("getStatus").length, DEFAULT_RETRY_POLICY.retries + 1);
    engine.status = [unavailable, unavailable];
    await rejection(client.getStatus({ retries: 0 }));
    assert.equal(engine.callsOf("getStatus").length, DEFAULT_RETRY_POLICY.retries + 2, "retries: 0 sends once");
  });

  it("does not resend reasons errorTable marks non-retryable, though they share the retryable codes", async () => {
    const sharing: Failure[] = [
      { code: grpc.status.RESOURCE_EXHAUSTED, reason: "STREAM_STALLED" },
      { code: grpc.status.RESOURCE_EXHAUSTED, reason: "PAYLOAD_TOO_LARGE" },
      { code: grpc.status.UNAVAILABLE, reason: "MODEL_UNAVAILABLE" },
      { code: grpc.status.UNAVAILABLE, reason: "A_REASON_FROM_A_NEWER_SERVER" },
      { code: grpc.status.FAILED_PRECONDITION, reason: "INSUFFICIENT_CREDITS" },
    ];
    for (const f of sharing) assert.ok(!RETRYABLE_REASONS.has(f.reason!), f.reason);
    for (const f of sharing) {
      const before = engine.callsOf("getStatus").length;
      engine.status = [{ fail: f }, okStatus()];
      const err = await rejection(client.getStatus());
      assert.equal(err.reason, f.reason);
      assert.equal(engine.callsOf("getStatus").length, before + 1, `${f.reason} was sent once`);
      engine.status = [];
    }
  });

  it("gives up at once when the server asks for longer than retryAfterMsMax, with retryAfterMs on the error", async () => {
    const patient = new DreamClient({ address: engine.address, retryAfterMsMax: 1000 });
    try {
      engine.status = [{ fail: { code: grpc.status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED", retryAfterMs: 5000 } }, okStatus()];
      const t0 = Date.now();
      const err = await rejection(patient.getStatus());
      assert.equal(err.retryAfterMs, 5000);
      assert.equal(err.retryAfterS, 5);
      assert.ok(Date.now() - t0 < 1000, "did not wait");
      assert.equal(engine.callsOf("getStatus").length, 1);
    } finally {
      patient.close();
    }
  });

  it("does not start a retry whose wait would pass the call's deadline", async () => {
    engine.status = [{ fail: { code: grpc.status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED", retryAfterMs: 2000 } }, okStatus()];
    const t0 = Date.now();
    const err = await rejection(client.getStatus({ timeoutMs: 500 }));
    assert.equal(err.reason, "RATE_LIMITED", "the server's answer, not a made-up timeout");
    assert.ok(Date.now() - t0 < 400, `${Date.now() - t0} ms`);
    assert.equal(engine.callsOf("getStatus").length, 1);
  });

  it("a predict refused at admission (RATE_LIMITED) is resent; one that may have run is not", async () => {
    const ok = { ok: PredictBatchResponse.fromPartial({ rollouts: [] }) };
    engine.predictBatch = [{ fail: { code: grpc.status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED" } }, ok];
    await client.predictBatch(batch());
    assert.equal(engine.callsOf("predictBatch").length, 2);

    // A bare UNAVAILABLE (a connection lost mid-call) says nothing about whether the engine ran it:
    // without a request id there is no telling, so it is not resent ...
    engine.predictBatch = [{ fail: { code: grpc.status.UNAVAILABLE } }, ok];
    const err = await rejection(client.predictBatch(batch()));
    assert.equal(err.fromServer, false);
    assert.equal(err.reason, "UNAVAILABLE");
    assert.equal(engine.callsOf("predictBatch").length, 3);
    // ... with one, the server holds and settles money once per id, so it is.
    engine.predictBatch = [{ fail: { code: grpc.status.UNAVAILABLE } }, ok];
    await client.predictBatch(batch("retry-safe-1"));
    const sent = engine.callsOf("predictBatch");
    assert.equal(sent.length, 5);
    assert.deepEqual(sent.slice(3).map((c) => (c.request as { requestId: string }).requestId), ["retry-safe-1", "retry-safe-1"], "the same id both times");
    // ENGINE_FAILURE (after admission) is never resent.
    engine.predictBatch = [{ fail: { code: grpc.status.INTERNAL, reason: "ENGINE_FAILURE" } }, ok];
    assert.equal((await rejection(client.predictBatch(batch("retry-safe-2")))).reason, "ENGINE_FAILURE");
    assert.equal(engine.callsOf("predictBatch").length, 6);
  });

  it("reads are resent after a bare UNAVAILABLE (no connection yet, a proxy)", async () => {
    engine.status = [{ fail: { code: grpc.status.UNAVAILABLE } }, okStatus()];
    await client.getStatus();
    assert.equal(engine.callsOf("getStatus").length, 2);
  });

  it("backoff doubles from the base up to the cap with equal jitter, never below the server's RetryInfo", () => {
    const p = { retries: 5, backoffMs: 100, backoffMsMax: 1000, retryAfterMsMax: 60_000 };
    const none = new DreamError(14, "UNAVAILABLE", "", {}, undefined, undefined, true);
    assert.deepEqual([1, 2, 3, 4, 5].map((r) => backoffMs(r, p, none, () => 0)), [50, 100, 200, 400, 500]);
    assert.deepEqual([1, 2, 3, 4, 5].map((r) => backoffMs(r, p, none, () => 1)), [100, 200, 400, 800, 1000]);
    const floor = new DreamError(8, "RATE_LIMITED", "", {}, 3, undefined, true);
    assert.equal(backoffMs(1, p, floor, () => 0.5), 3000);
    assert.equal(backoffMs(1, { ...p, retryAfterMsMax: 2000 }, floor), undefined);
  });

  it("refuses a retry policy out of bounds", () => {
    assert.throws(() => new DreamClient({ address: engine.address, retries: 11 }), /retries must be an integer in \[0, 10\]/);
    assert.throws(() => new DreamClient({ address: engine.address, retryBackoffMs: -1 }), /retryBackoffMs must be/);
  });
});
