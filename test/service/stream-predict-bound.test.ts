// StreamPredict's bound on a slow reader counts encoded chunks waiting for the reader, never chunks the
// server is still encoding: a fake flow hands over chunks faster than the fake encoder finishes them,
// and a fake reader that never takes a message shows the bound still holds for a reader that stalls.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { FrameEncoding, type PredictBatchRequest, type StreamPredictResponse } from "../../src/gen/dream/v1/dream";
import type { CallContext } from "../../src/service/context";
import type { PredictFlow, Settled } from "../../src/service/predict-flow";
import type { Account, CodecPort, EngineChunk } from "../../src/service/ports";
import { streamPredict } from "../../src/service/stream-predict";

const CHUNKS = 8;
const BOUNDS = { bufferedChunksMax: 4, stallMs: 5_000 };
const chunk = (i: number): EngineChunk => ({ chunkIndex: i, lanes: [{ candidateIndex: 0, firstFrameIndex: i, frames: [new Uint8Array(12)] }] });
const tick = () => new Promise<void>((r) => setImmediate(r));

/** A flow whose engine hands over CHUNKS chunks back to back, then ends as the consumer allowed. */
function fakeFlow(): PredictFlow {
  const settledOf = (chunks: number): Settled => ({ end: { framesPerCandidate: [chunks], cancelled: [], reason: "completed", engineUs: 0, queueUs: 0 }, framesPerCandidate: [chunks], summary: { requestId: "r", model: "m", frames: chunks, cost: undefined, engineWallMs: 0, queueMs: 0, numSteps: 1, seed: 0, fps: 10, batchSize: 1 } });
  return {
    admit: async () => ({ output: { encoding: FrameEncoding.PNG, jpegQuality: 0 }, slot: { entry: { resolution: [2, 2] } } }),
    run: async (_a: unknown, _ctx: unknown, onChunk: (c: EngineChunk) => unknown) => {
      for (let i = 0; i < CHUNKS; i++) {
        onChunk(chunk(i)); // throws STREAM_STALLED past the bound, as the engine's delivery would see
        await tick();
      }
      return settledOf(CHUNKS);
    },
  } as unknown as PredictFlow;
}

const ctx = { signal: new AbortController().signal, responseHeaders: new Map() } as unknown as CallContext;
const account = { customerId: "c", keyId: "k" } as unknown as Account;
const request = { model: "m" } as unknown as PredictBatchRequest;

describe("StreamPredict's slow-reader bound", () => {
  it("chunks still encoding do not count: a slow encoder and a fast reader end with every chunk and the summary", async () => {
    const encodes: Array<() => void> = [];
    const codecs = { encodeFrame: () => new Promise<Uint8Array>((resolve) => encodes.push(() => resolve(new Uint8Array([1])))) } as unknown as CodecPort;
    const sent: StreamPredictResponse[] = [];
    const done = streamPredict(fakeFlow(), codecs, request, ctx, account, async (m) => void sent.push(m), BOUNDS);
    // All CHUNKS chunks are handed over while none is encoded yet (more than the bound).
    for (let i = 0; i < CHUNKS + 2; i++) await tick();
    assert.equal(encodes.length, CHUNKS);
    for (const finish of encodes) finish();
    await done;
    assert.deepEqual(
      sent.map((m) => m.event?.$case),
      [...Array<string>(CHUNKS).fill("chunk"), "summary"],
    );
  });

  it("a reader that takes nothing is cut off once the bound's worth of encoded chunks wait for it", async () => {
    const codecs = { encodeFrame: async () => new Uint8Array([1]) } as unknown as CodecPort;
    let taken = 0;
    const never = new Promise<void>(() => undefined);
    const err = await streamPredict(fakeFlow(), codecs, request, ctx, account, () => (taken++, never), BOUNDS).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ServiceError, String(err));
    assert.equal(err.reason, "STREAM_STALLED");
    assert.match(err.message, /fell 4 chunks behind \(limit 4\)/);
    assert.equal(taken, 1, "one send in progress, the rest waiting behind it");
  });
});
