// AbortSignal and deadlines on TS client calls: an abort ends the gRPC call (the server sees it
// cancelled) and rejects with DreamError CANCELLED carrying the signal's reason, including while the
// client sleeps between retries; a deadline covers the attempts and the sleeps together.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { DreamClient } from "../../clients/typescript/src";
import { FakeEngine, okStatus, rejection, until } from "./fake-engine";

describe("TS client: signal and deadline", function () {
  this.timeout(20_000);
  let engine: FakeEngine;
  let client: DreamClient;
  beforeEach(async () => {
    engine = await FakeEngine.start();
    client = new DreamClient({ address: engine.address });
  });
  afterEach(async () => {
    client.close();
    await engine.stop();
  });

  it("aborting a call in flight cancels it on the server and rejects CANCELLED with the signal's reason", async () => {
    engine.status = [{ hang: true }];
    const ac = new AbortController();
    const pending = client.getStatus({ signal: ac.signal });
    await until(() => engine.callsOf("getStatus").length === 1);
    const why = new Error("caller moved on");
    ac.abort(why);
    const err = await rejection(pending);
    assert.equal(err.code, grpc.status.CANCELLED);
    assert.equal(err.reason, "CANCELLED");
    assert.equal((err as { cause?: unknown }).cause, why);
    await until(() => engine.callsOf("getStatus")[0]!.cancelled);
  });

  it("an already-aborted signal sends nothing", async () => {
    const err = await rejection(client.getStatus({ signal: AbortSignal.abort("no") }));
    assert.equal(err.reason, "CANCELLED");
    assert.equal(engine.calls.length, 0);
  });

  it("aborting during a backoff sleep rejects at once, without another attempt", async () => {
    engine.status = [{ fail: { code: grpc.status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED", retryAfterMs: 5000 } }, okStatus()];
    const ac = new AbortController();
    const pending = client.getStatus({ signal: ac.signal });
    await until(() => engine.callsOf("getStatus").length === 1);
    await new Promise((r) => setTimeout(r, 50)); // the answer is in and the client is sleeping
    const t0 = Date.now();
    ac.abort();
    const err = await rejection(pending);
    assert.equal(err.reason, "CANCELLED");
    assert.ok(Date.now() - t0 < 500, `rejected ${Date.now() - t0} ms after the abort`);
    assert.equal(engine.callsOf("getStatus").length, 1);
  });

  it("timeoutMs ends a call the server never answers with DEADLINE_EXCEEDED; deadline (a Date) too", async () => {
    engine.status = [{ hang: true }, { hang: true }];
    const t0 = Date.now();
    const err = await rejection(client.getStatus({ timeoutMs: 200 }));
    assert.equal(err.code, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(err.reason, "DEADLINE_EXCEEDED");
    assert.ok(Date.now() - t0 >= 190 && Date.now() - t0 < 2000, `${Date.now() - t0} ms`);
    const late = await rejection(client.getStatus({ deadline: new Date(Date.now() + 150), timeoutMs: 60_000 }));
    assert.equal(late.reason, "DEADLINE_EXCEEDED", "the earlier of the two holds");
  });

  it("the client's timeoutMs is the default deadline of every call", async () => {
    const impatient = new DreamClient({ address: engine.address, timeoutMs: 150 });
    try {
      engine.status = [{ hang: true }];
      assert.equal((await rejection(impatient.getStatus())).reason, "DEADLINE_EXCEEDED");
    } finally {
      impatient.close();
    }
  });
});
