// StreamPredict through the TS client against a scripted server: the oneof becomes typed events in
// order, cancel() and an AbortSignal end the call on the server, breaking out of the loop does too,
// and a stream is retried only before its first message.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { DreamClient, DreamError, type StreamEvent } from "../../clients/typescript/src";
import { FrameEncoding, type StreamPredictResponse } from "../../src/gen/dream/v1/dream";
import { FakeEngine, until } from "./fake-engine";

const chunk = (chunkIndex: number): StreamPredictResponse => ({
  event: { $case: "chunk", value: { chunkIndex, encoding: FrameEncoding.RAW_RGB8, candidates: [{ candidateIndex: 0, firstFrameIndex: chunkIndex * 2, frames: [new Uint8Array([chunkIndex]), new Uint8Array([chunkIndex])] }] } },
});
const summary: StreamPredictResponse = {
  event: {
    $case: "summary",
    value: {
      summary: { requestId: "r1", model: "m", frames: 4, cost: { micros: 2000, usd: "0.002000" }, engineWallMs: 1, queueMs: 0, numSteps: 4, seed: 1, fps: 10, batchSize: 1 },
      framesPerCandidate: [4],
      cancelledCandidates: [],
    },
  },
};
const request = { model: "m", candidates: [{ data: new Uint8Array(8), shape: [1, 2] }] };

async function drain(events: AsyncIterable<StreamEvent>, onEvent: (e: StreamEvent) => void = () => {}): Promise<{ events: StreamEvent[]; error?: DreamError }> {
  const seen: StreamEvent[] = [];
  try {
    for await (const e of events) {
      seen.push(e);
      onEvent(e);
    }
  } catch (err) {
    assert.ok(err instanceof DreamError, `a DreamError, got ${String(err)}`);
    return { events: seen, error: err };
  }
  return { events: seen };
}

describe("TS client: stream events", function () {
  this.timeout(20_000);
  let engine: FakeEngine;
  let client: DreamClient;
  beforeEach(async () => {
    engine = await FakeEngine.start();
    client = new DreamClient({ address: engine.address, retryBackoffMs: 10 });
  });
  afterEach(async () => {
    client.close();
    await engine.stop();
  });

  it("yields a chunk event per chunk, then the summary, with the proto's fields", async () => {
    engine.stream = [{ messages: [chunk(0), chunk(1), summary], then: "end" }];
    const { events, error } = await drain(client.streamPredict(request));
    assert.equal(error, undefined);
    assert.deepEqual(events.map((e) => (e.kind === "chunk" ? `chunk${e.chunkIndex}` : e.kind)), ["chunk0", "chunk1", "summary"]);
    const [c0, , s] = events;
    assert.ok(c0?.kind === "chunk" && s?.kind === "summary");
    assert.equal(c0.encoding, FrameEncoding.RAW_RGB8);
    assert.deepEqual(c0.candidates[0]!.frames.map((f) => f[0]), [0, 0]);
    assert.equal(s.summary.cost!.micros, 2000);
    assert.deepEqual(s.framesPerCandidate, [4]);
  });

  it("cancel() ends the server's call and the iteration rejects CANCELLED", async () => {
    engine.stream = [{ messages: [chunk(0)], then: "hang" }];
    const stream = client.streamPredict(request);
    const { events, error } = await drain(stream, () => stream.cancel("enough"));
    assert.equal(events.length, 1);
    assert.equal(error?.code, grpc.status.CANCELLED);
    assert.equal(error?.reason, "CANCELLED");
    assert.equal((error as { cause?: unknown }).cause, "enough");
    await until(() => engine.callsOf("streamPredict")[0]!.cancelled);
  });

  it("an AbortSignal cancels the stream the same way", async () => {
    engine.stream = [{ messages: [chunk(0)], then: "hang" }];
    const ac = new AbortController();
    const { error } = await drain(client.streamPredict(request, { signal: ac.signal }), () => ac.abort());
    assert.equal(error?.reason, "CANCELLED");
    await until(() => engine.callsOf("streamPredict")[0]!.cancelled);
  });

  it("leaving the loop early cancels the call rather than leave the server generating", async () => {
    engine.stream = [{ messages: [chunk(0), chunk(1)], then: "hang" }];
    for await (const e of client.streamPredict(request)) if (e.kind === "chunk") break;
    await until(() => engine.callsOf("streamPredict")[0]!.cancelled);
  });

  it("is retried when refused before its first message, and not once frames have flowed", async () => {
    const limited = { code: grpc.status.RESOURCE_EXHAUSTED, reason: "RATE_LIMITED" };
    engine.stream = [{ messages: [], then: limited }, { messages: [chunk(0), summary], then: "end" }];
    const ok = await drain(client.streamPredict(request));
    assert.equal(ok.error, undefined);
    assert.deepEqual(ok.events.map((e) => e.kind), ["chunk", "summary"]);
    assert.equal(engine.callsOf("streamPredict").length, 2);

    const unavailable = { code: grpc.status.UNAVAILABLE, reason: "UNAVAILABLE" };
    engine.stream = [{ messages: [chunk(0)], then: unavailable }, { messages: [chunk(0), summary], then: "end" }];
    const cut = await drain(client.streamPredict(request));
    assert.equal(cut.events.length, 1);
    assert.equal(cut.error?.reason, "UNAVAILABLE");
    assert.equal(engine.callsOf("streamPredict").length, 3, "not resent after a chunk");
  });

  it("the raw messages stay available, and `call` is the live attempt's", async () => {
    engine.stream = [{ messages: [chunk(0), summary], then: "end" }];
    const stream = client.streamPredict(request);
    assert.equal(typeof stream.call.cancel, "function");
    const cases: string[] = [];
    for await (const m of stream.messages) cases.push(m.event!.$case);
    assert.deepEqual(cases, ["chunk", "summary"]);
  });
});
