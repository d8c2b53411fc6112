// End to end over real gRPC on the tiny model: StreamPredict ordering and equality with PredictBatch,
// client cancel stopping work at a chunk boundary, partial cancel (6 of 8 candidates), and a reader that
// stops reading being cut off by the server's bounded stream buffer. Billing is checked to the micro:
// every request is charged exactly 500 micros per generated frame (start frame included), as the ledger
// shows. No wall-clock assertions: we assert on order, counts and bytes, and poll for quiescence.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http2 from "node:http2";
import { DreamClient, DreamError, packActions } from "../../clients/typescript/src";
import { reserveWarmReceive, warmReceiveCounters } from "../../clients/typescript/src/warm-receive";
import type { OrtRunner } from "../../gpu/runner";
import type { SchedulerEngine } from "../../src/app/engine";
import { limits } from "../../src/core/limits";
import { FrameEncoding, PredictBatchRequest, PredictBatchResponse, StreamPredictResponse, type ChunkFrames, type StreamSummary } from "../../src/gen/dream/v1/dream";
import { preframedSendCount } from "../../src/transport/grpc/raw/preframed-send";
import { rawArenaCounters } from "../../src/transport/grpc/raw/raw-arena";
import { errorInfoOf } from "../../src/wire/status-details";
import { settledValue, startHarness, testActions, testFrame, until, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const PRICE = 500; // micros per frame
const CHUNK = 12;
const H = 48;
const W = 64;
const FRAME_BYTES = H * W * 3;

describe("e2e: StreamPredict, cancel, partial cancel and slow readers (tiny model)", function () {
  this.timeout(180_000);
  let h: Harness;
  let engine: SchedulerEngine<OrtRunner>;
  const frame = testFrame(H, W);
  const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: frame, height: H, width: W };
  const cands = (k: number, t: number) => Array.from({ length: k }, (_, i) => packActions(testActions(t, 384, i), t, 384));

  const balance = async () => (await h.app.billing.balance(h.customerId)).balanceMicros;
  /** What the ledger says this request cost: minus the sum of its debit and refund entries. */
  const ledgerCharge = async (requestId: string) => {
    const txs = await h.app.billing.transactions(h.customerId, 500);
    const mine = txs.filter((t) => t.requestId === requestId);
    assert.ok(mine.length > 0, `no ledger entries for ${requestId}`);
    return 0 - mine.reduce((s, t) => s + t.amountMicros, 0);
  };
  /** Every hold of this customer settled (nothing in flight). */
  const holdsSettled = async () => (await h.app.billing.balance(h.customerId)).heldMicros === 0;

  before(async () => {
    h = await startHarness();
    engine = h.app.registry.get(TINY).engine as SchedulerEngine<OrtRunner>;
    assert.ok(engine.runner.chunksExecuted >= 0, "the engine exposes its runner");
  });
  after(async () => h?.stop());

  afterEach(async () => {
    // Leave the engine idle for the next test: nothing queued or running, every hold settled.
    await until(() => engine.scheduler.stats().runningRequests === 0 && engine.scheduler.stats().queuedRequests === 0);
    await until(holdsSettled);
  });

  it("yields chunk messages in chunk order, then one summary; the concatenation equals PredictBatch's output", async () => {
    const K = 3;
    const T = 30; // chunks of 12, 12 and a partial 6
    const params = { numSteps: 4, seed: 11 };
    const requestId = randomUUID();
    const before = await balance();
    const stream = h.client.streamPredict({ model: TINY, startFrame, candidates: cands(K, T), params, requestId });
    const chunks: ChunkFrames[] = [];
    const summaries: StreamSummary[] = [];
    const order: string[] = [];
    for await (const m of stream.messages) {
      if (m.event?.$case === "chunk") {
        chunks.push(m.event.value);
        order.push(`chunk${m.event.value.chunkIndex}`);
      } else if (m.event?.$case === "summary") {
        summaries.push(m.event.value);
        order.push("summary");
      }
    }
    assert.deepEqual(order, ["chunk0", "chunk1", "chunk2", "summary"]);
    const frames: Uint8Array[][] = Array.from({ length: K }, () => []);
    for (const c of chunks) {
      assert.equal(c.encoding, FrameEncoding.RAW_RGB8);
      assert.deepEqual(c.candidates.map((x) => x.candidateIndex), [0, 1, 2], "every live candidate, in candidate order");
      for (const cand of c.candidates) {
        // Frames are contiguous: each chunk starts where the candidate's previous one ended.
        assert.equal(cand.firstFrameIndex, frames[cand.candidateIndex]!.length, `chunk ${c.chunkIndex} candidate ${cand.candidateIndex}`);
        frames[cand.candidateIndex]!.push(...cand.frames);
      }
    }
    assert.deepEqual(chunks.map((c) => c.candidates[0]!.frames.length), [1 + CHUNK, CHUNK, T - 2 * CHUNK], "chunk 0 carries the start frame");

    const preframed0 = preframedSendCount();
    const batch = (await h.client.predictBatch({ model: TINY, startFrame, candidates: cands(K, T), params })).response;
    let billedExtra = 0;
    assert.equal(preframedSendCount(), preframed0 + 1, "the raw batch left from its arena, without grpc-js's framing copy");
    for (let k = 0; k < K; k++) {
      assert.equal(frames[k]!.length, T + 1);
      assert.ok(Buffer.from(frames[k]![0]!).equals(Buffer.from(frame)), "frame 0 is the start frame");
      const rollout = batch.rollouts[k]!;
      assert.equal(rollout.frames.length, T + 1);
      for (let f = 0; f <= T; f++) {
        assert.equal(frames[k]![f]!.byteLength, FRAME_BYTES);
        assert.ok(Buffer.from(frames[k]![f]!).equals(Buffer.from(rollout.frames[f]!)), `candidate ${k} frame ${f}: stream != PredictBatch`);
      }
    }
    assert.ok(!Buffer.from(frames[0]![T]!).equals(Buffer.from(frames[1]![T]!)), "different actions give different frames");

    // Once its bytes have left, the arena is reused by the next response of that size, already warm;
    // the repeat (same seed) arrives byte-identical.
    await until(() => rawArenaCounters().released > 0);
    const reused0 = rawArenaCounters().reused;
    const again = (await h.client.predictBatch({ model: TINY, startFrame, candidates: cands(K, T), params })).response;
    assert.equal(rawArenaCounters().reused, reused0 + 1, "the second response reused the first one's arena");
    for (let k = 0; k < K; k++) for (let f = 0; f <= T; f++) assert.ok(Buffer.from(again.rollouts[k]!.frames[f]!).equals(Buffer.from(batch.rollouts[k]!.frames[f]!)), `repeat: candidate ${k} frame ${f}`);

    // The client received it into a buffer faulted in while the engine ran (this response is 0.86 MB,
    // so the test lowers the 4 MiB default); with that turned off, grpc-js's own decoding gives the same.
    const warmClient = new DreamClient({ address: h.grpcAddress, apiKey: h.apiKey, warmReceive: { bytesMin: 1 } });
    const coldClient = new DreamClient({ address: h.grpcAddress, apiKey: h.apiKey });
    try {
      // Start the faulting thread first (its start-up takes longer than this tiny model's rollout).
      const probe = reserveWarmReceive(1 << 20, 1)!;
      await until(() => probe.ready);
      probe.cancel();
      const warm0 = warmReceiveCounters().warm;
      const warm = (await warmClient.predictBatch({ model: TINY, startFrame, candidates: cands(K, T), params })).response;
      assert.equal(warmReceiveCounters().warm, warm0 + 1, "received into the reserved buffer");
      const cold = (await coldClient.predictBatch({ model: TINY, startFrame, candidates: cands(K, T), params })).response;
      assert.equal(warmReceiveCounters().warm, warm0 + 1, "turned off: not reserved");
      assert.deepEqual(PredictBatchResponse.encode({ ...warm, summary: undefined }).finish(), PredictBatchResponse.encode({ ...cold, summary: undefined }).finish());
      assert.deepEqual(PredictBatchResponse.encode({ ...warm, summary: undefined }).finish(), PredictBatchResponse.encode({ ...batch, summary: undefined }).finish());
      billedExtra = warm.summary!.cost!.micros + cold.summary!.cost!.micros;
    } finally {
      warmClient.close();
      coldClient.close();
    }

    assert.equal(summaries.length, 1);
    const s = summaries[0]!;
    assert.deepEqual(s.framesPerCandidate, [T + 1, T + 1, T + 1]);
    assert.deepEqual(s.cancelledCandidates, []);
    assert.equal(s.summary?.requestId, requestId);
    assert.equal(s.summary?.frames, K * (T + 1));
    assert.equal(s.summary?.cost?.micros, K * (T + 1) * PRICE);
    assert.equal(s.summary?.batchSize, K);
    assert.equal(s.summary?.numSteps, 4);
    assert.equal(Number(s.summary?.seed), 11);
    await until(holdsSettled);
    assert.equal(await ledgerCharge(requestId), K * (T + 1) * PRICE);
    assert.equal(before - (await balance()), K * (T + 1) * PRICE + batch.summary!.cost!.micros + again.summary!.cost!.micros + billedExtra, "the stream and every batch are each billed their frames");
  });

  it("a client cancel mid-rollout stops work at the next chunk boundary and bills only generated frames", async () => {
    const K = 2;
    const T = 240; // 20 chunks
    const chunkCount = T / CHUNK;
    const requestId = randomUUID();
    const before = await balance();
    const chunks0 = engine.runner.chunksExecuted;
    const stepped0 = engine.scheduler.stats().laneChunksStepped;
    const stream = h.client.streamPredict({ model: TINY, startFrame, candidates: cands(K, T), params: { numSteps: 64, seed: 3 }, requestId });
    const received: number[] = [];
    let error: unknown;
    try {
      for await (const m of stream.messages) {
        if (m.event?.$case !== "chunk") continue;
        received.push(m.event.value.chunkIndex);
        if (m.event.value.chunkIndex === 1) stream.call.cancel();
      }
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof DreamError, `expected a CANCELLED error, got ${String(error)}`);
    assert.equal(error.code, grpc.status.CANCELLED);
    assert.deepEqual(received.slice(0, 2), [0, 1]);

    // The runner's chunk counter stops growing well short of the full rollout.
    await until(() => engine.scheduler.stats().runningRequests === 0);
    const executed = (await settledValue(() => engine.runner.chunksExecuted)) - chunks0;
    assert.ok(executed >= 2, `at least the 2 chunks the client saw ran, got ${executed}`);
    assert.ok(executed < chunkCount, `cancel must stop the rollout early: ${executed} of ${chunkCount} chunks ran`);
    // Cancel lands at a boundary: the chunk in flight (and at most the stream's buffered ones) may finish.
    assert.ok(executed <= received.length + limits.streamBufferedChunksMax + 1, `${executed} chunks ran after the client saw ${received.length}`);
    assert.equal(engine.scheduler.stats().laneChunksStepped - stepped0, executed * K, "only this request's lanes ran");

    await until(holdsSettled);
    const generated = K * (1 + executed * CHUNK);
    assert.equal(await ledgerCharge(requestId), generated * PRICE, "the ledger charges exactly the generated frames");
    assert.equal(before - (await balance()), generated * PRICE, "the balance moved by exactly the generated frames");
  });

  it("a partial cancel of 6 of 8 candidates leaves 2 finishing; billing is exactly the frames generated", async () => {
    const K = 8;
    const T = 120; // 10 chunks
    const requestId = randomUUID();
    const before = await balance();
    const stream = h.client.streamPredict({ model: TINY, startFrame, candidates: cands(K, T), params: { numSteps: 32, seed: 5 }, requestId });
    const perCandidate = new Array<number>(K).fill(0);
    const chunkCandidates: number[][] = [];
    let summary: StreamSummary | undefined;
    let cancelReply: Awaited<ReturnType<typeof h.client.cancelCandidates>> | undefined;
    for await (const m of stream.messages) {
      if (m.event?.$case === "chunk") {
        const c = m.event.value;
        chunkCandidates.push(c.candidates.map((x) => x.candidateIndex));
        for (const cand of c.candidates) {
          assert.equal(cand.firstFrameIndex, perCandidate[cand.candidateIndex], "contiguous frames per candidate");
          perCandidate[cand.candidateIndex]! += cand.frames.length;
        }
        if (c.chunkIndex === 0) cancelReply = await h.client.cancelCandidates(requestId, [0, 1, 2, 3, 4, 5]);
      } else if (m.event?.$case === "summary") {
        summary = m.event.value;
      }
    }
    assert.deepEqual(cancelReply?.cancelled, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(cancelReply?.stillRunning, [6, 7]);
    assert.ok(summary, "the stream ends with a summary, not an error");
    assert.deepEqual(summary.cancelledCandidates, [0, 1, 2, 3, 4, 5]);
    const full = T + 1;
    assert.equal(summary.framesPerCandidate[6], full);
    assert.equal(summary.framesPerCandidate[7], full);
    for (let k = 0; k < 6; k++) {
      const n: number = summary.framesPerCandidate[k]!;
      assert.ok(n >= 1 + CHUNK && n < full, `candidate ${k} stopped early: ${n} of ${full} frames`);
      assert.equal((n - 1) % CHUNK, 0, "a cancelled candidate stops at a chunk boundary");
    }
    assert.deepEqual(summary.framesPerCandidate, perCandidate, "the summary counts exactly the frames that were streamed");
    // Once the cancelled lanes stop, later chunks carry only the survivors.
    assert.deepEqual(chunkCandidates.at(-1), [6, 7]);
    assert.deepEqual(chunkCandidates[0], [0, 1, 2, 3, 4, 5, 6, 7]);
    const frames = perCandidate.reduce((a, b) => a + b, 0);
    assert.ok(frames < K * full);
    assert.equal(summary.summary?.frames, frames);
    assert.equal(summary.summary?.cost?.micros, frames * PRICE);
    await until(holdsSettled);
    assert.equal(await ledgerCharge(requestId), frames * PRICE);
    assert.equal(before - (await balance()), frames * PRICE);
  });

  it("Predict over gRPC is PredictBatch with K = 1: the same frames, sent from its arena too", async () => {
    const T = 30;
    const params = { numSteps: 4, seed: 8 };
    const preframed0 = preframedSendCount();
    const [actions] = cands(1, T);
    const { response, headers } = await h.client.predict({ model: TINY, startFrame, actions, params });
    assert.equal(preframedSendCount(), preframed0 + 1, "a raw Predict leaves pre-framed");
    const batch = (await h.client.predictBatch({ model: TINY, startFrame, candidates: [actions!], params })).response;
    const r = response.rollout!;
    assert.equal(r.frames.length, T + 1);
    assert.equal(r.frameCount, T + 1);
    assert.equal(response.summary?.frames, T + 1);
    assert.equal(headers["x-dreamengine-frames"], String(T + 1));
    r.frames.forEach((f, i) => assert.ok(Buffer.from(f).equals(Buffer.from(batch.rollouts[0]!.frames[i]!)), `frame ${i}`));
  });

  it("a partial cancel of a unary raw PredictBatch returns survivors whole and cancelled candidates cut at a chunk boundary", async () => {
    // The raw arena was planned for complete rollouts; a cancel makes the response off-plan, so it must
    // go out through the ordinary encoder with exactly the frames generated.
    const K = 8;
    const T = 120;
    const requestId = randomUUID();
    const before = await balance();
    const chunks0 = engine.runner.chunksExecuted;
    const preframed0 = preframedSendCount();
    const pending = h.client.predictBatch({ model: TINY, startFrame, candidates: cands(K, T), params: { numSteps: 32, seed: 5 }, requestId });
    await until(() => engine.runner.chunksExecuted > chunks0);
    const reply = await h.client.cancelCandidates(requestId, [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(reply.cancelled, [0, 1, 2, 3, 4, 5]);
    const { response } = await pending;
    assert.equal(preframedSendCount(), preframed0, "an off-plan response is not sent from the arena");
    const full = T + 1;
    let frames = 0;
    for (const [k, r] of response.rollouts.entries()) {
      assert.equal(r.candidateIndex, k);
      assert.equal(r.cancelled, k < 6);
      assert.equal(r.frames.length, r.frameCount);
      if (k < 6) assert.ok(r.frameCount < full && (r.frameCount - 1) % CHUNK === 0, `candidate ${k}: ${r.frameCount} frames`);
      else assert.equal(r.frameCount, full);
      assert.ok(Buffer.from(r.frames[0]!).equals(Buffer.from(frame)), "frame 0 is the start frame");
      for (const f of r.frames) assert.equal(f.byteLength, FRAME_BYTES);
      frames += r.frameCount;
    }
    assert.equal(response.summary?.frames, frames);
    await until(holdsSettled);
    assert.equal(await ledgerCharge(requestId), frames * PRICE);
    assert.equal(before - (await balance()), frames * PRICE);
  });

  it("a reader that stops reading is cut off with a clear status; the server buffers a bounded number of chunks", async () => {
    // A raw HTTP/2 gRPC client that never reads: grpc-js's own client would buffer 16 messages in its
    // Readable, more than a whole T=240 rollout, so it could not show the server's bound.
    const K = 4;
    const T = 240;
    const chunkCount = T / CHUNK;
    const requestId = randomUUID();
    const before = await balance();
    const chunks0 = engine.runner.chunksExecuted;
    const ended0 = engine.scheduler.stats().ended;
    const endedTotal = (e: typeof ended0) => e.completed + e.cancelled + e.deadline + e.failed;
    const body = PredictBatchRequest.encode(
      PredictBatchRequest.fromPartial({ model: TINY, startFrame, candidates: cands(K, T), params: { numSteps: 4, seed: 1 }, output: { encoding: FrameEncoding.RAW_RGB8 }, requestId }),
    ).finish();
    const framed = Buffer.alloc(5 + body.length);
    framed.writeUInt32BE(body.length, 1);
    Buffer.from(body).copy(framed, 5);

    const session = http2.connect(`http://${h.grpcAddress}`);
    try {
      const req = session.request({
        ":method": "POST",
        ":path": "/dream.v1.Models/StreamPredict",
        "content-type": "application/grpc",
        te: "trailers",
        authorization: `Bearer ${h.apiKey}`,
      });
      let trailers: http2.IncomingHttpHeaders | undefined;
      req.on("trailers", (t) => (trailers = t));
      const closed = new Promise<void>((resolve) => req.on("close", () => resolve()));
      req.end(framed);
      req.pause(); // stop reading: HTTP/2 flow control now pushes back on the server

      // The server gives up on the reader by itself, while we are still not reading.
      await until(() => endedTotal(engine.scheduler.stats().ended) > endedTotal(ended0));
      assert.equal(engine.scheduler.stats().ended.cancelled, ended0.cancelled + 1, "the scheduler cancelled the request (it did not run to completion)");
      await until(holdsSettled);
      const executed = (await settledValue(() => engine.runner.chunksExecuted)) - chunks0;
      assert.ok(executed < chunkCount, `a stalled reader must not get the whole rollout generated: ${executed} of ${chunkCount} chunks`);
      const generated = K * (1 + executed * CHUNK);
      assert.equal(await ledgerCharge(requestId), generated * PRICE, "only generated frames are billed");
      assert.equal(before - (await balance()), generated * PRICE);

      // Now read: whatever reached the wire, then the status.
      const data: Buffer[] = [];
      req.on("data", (d: Buffer) => data.push(d));
      req.resume();
      await closed;
      const all = Buffer.concat(data);
      let delivered = 0;
      let chunksDelivered = 0;
      for (let o = 0; o + 5 <= all.length; ) {
        const len = all.readUInt32BE(o + 1);
        const m = StreamPredictResponse.decode(all.subarray(o + 5, o + 5 + len));
        assert.notEqual(m.event?.$case, "summary", "a cut-off stream has no summary");
        if (m.event?.$case === "chunk") {
          chunksDelivered++;
          for (const c of m.event.value.candidates) delivered += c.frames.length;
        }
        o += 5 + len;
      }
      assert.ok(trailers, "the stream ends with trailers");
      const code = Number(trailers["grpc-status"]);
      const md = new grpc.Metadata();
      const details = trailers["grpc-status-details-bin"];
      if (typeof details === "string") md.set("grpc-status-details-bin", Buffer.from(details, "base64"));
      const reason = errorInfoOf(md)?.reason;
      assert.ok(
        (code === grpc.status.RESOURCE_EXHAUSTED && reason === "STREAM_STALLED") || (code === grpc.status.CANCELLED && reason === "CANCELLED"),
        `expected STREAM_STALLED or CANCELLED, got ${code} ${reason}: ${String(trailers["grpc-message"])}`,
      );
      assert.ok(delivered <= generated, `${delivered} frames delivered, ${generated} generated`);
      // Bounded: the server held at most its buffered chunks beyond what flow control let through.
      assert.ok(executed <= chunksDelivered + limits.streamBufferedChunksMax + 2, `${executed} chunks generated, ${chunksDelivered} delivered`);
    } finally {
      session.destroy();
    }
  });
});
