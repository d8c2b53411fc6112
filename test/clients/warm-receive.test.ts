// The TS client's warm receive path: grpc-js's decoder, with a reservation in place, must yield exactly
// the messages the original yields for any split of the byte stream, into the reserved memory; without
// one it must be the original. The size bound DreamClient reserves must cover the real response.
import assert from "node:assert/strict";
import { rawResponseBytesBound } from "../../clients/typescript/src";
import { installWarmReceive, reserveWarmReceive, takeWarm, WARM_RECEIVE_BYTES_MAX, warmReceiveCounters, warmReceiveInstalled } from "../../clients/typescript/src/warm-receive";
import { FrameEncoding, PredictBatchRequest, PredictBatchResponse, type RequestSummary } from "../../src/gen/dream/v1/dream";

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { StreamDecoder } = require("@grpc/grpc-js/build/src/stream-decoder") as { StreamDecoder: new (max: number) => { write(data: Buffer): Buffer[] } };

const framed = (payload: Buffer): Buffer => {
  const out = Buffer.alloc(payload.length + 5);
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, 5);
  return out;
};

/** A deterministic pseudo-random sequence (the splits must be reproducible). */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** Feeds `stream` to a fresh decoder in chunks cut by `rand`; returns the messages it yields and the cuts. */
function decodeCut(stream: Buffer, rand: () => number, maxChunk: number): { messages: Buffer[]; cuts: number[] } {
  const decoder = new StreamDecoder(-1);
  const messages: Buffer[] = [];
  const cuts: number[] = [];
  for (let at = 0; at < stream.length; ) {
    const n = Math.max(1, Math.floor(rand() * maxChunk));
    messages.push(...decoder.write(stream.subarray(at, at + n)));
    at += n;
    cuts.push(at);
  }
  return { messages, cuts };
}
const decodeInChunks = (stream: Buffer, rand: () => number, maxChunk: number): Buffer[] => decodeCut(stream, rand, maxChunk).messages;

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), "timed out");
}

describe("TS client: warm receive", () => {
  // Opt-in (test/clients/no-patch-at-import.test.ts holds that importing patches nothing).
  before(() => installWarmReceive());

  it("is installed on this grpc-js version", () => {
    assert.equal(warmReceiveInstalled(), true, "grpc-js's StreamDecoder changed shape: see clients/typescript/src/warm-receive.ts");
  });

  it("yields the original decoder's messages for any split, the large one in the reserved (faulted-in) buffer", async () => {
    const rand = lcg(7);
    const big = Buffer.from(Uint8Array.from({ length: 300_000 }, () => Math.floor(rand() * 256)));
    const messages = [Buffer.from("a"), Buffer.alloc(0), big, Buffer.from("tail message")];
    const stream = Buffer.concat(messages.map(framed));
    let wholeRounds = 0;
    for (let round = 0; round < 20; round++) {
      const r = reserveWarmReceive(big.length + 5 + 100, 1)!;
      assert.ok(r);
      await until(() => r.ready);
      const before = warmReceiveCounters();
      const { messages: got, cuts } = decodeCut(stream, lcg(round), round % 2 === 0 ? 70_000 : 9);
      r.cancel();
      assert.deepEqual(got.map((m) => m.toString("hex")), messages.map((m) => framed(m).toString("hex")), `round ${round}`);
      // The reservation is used when the large message's 5-byte prefix arrives in one piece (a gRPC
      // response's first DATA frame always starts with it); a prefix cut in two takes grpc-js's path.
      const bigAt = framed(messages[0]!).length + framed(messages[1]!).length;
      const prefixWhole = !cuts.some((c) => c > bigAt && c < bigAt + 5);
      if (prefixWhole) wholeRounds++;
      assert.equal(warmReceiveCounters().warm, before.warm + (prefixWhole ? 1 : 0), `round ${round}: the large message used the reservation`);
      assert.equal(got[2]!.buffer.byteLength === big.length + 5 + 100, prefixWhole, "received into the reserved buffer (its capacity) exactly when it was used");
    }
    assert.ok(wholeRounds >= 10, `${wholeRounds} of 20 rounds exercised the reservation`);
  });

  it("without a ready reservation of the right size, the original path decodes it", async () => {
    const big = Buffer.alloc(200_000, 3);
    const wrongSize = reserveWarmReceive(1_000_000, 1)!; // far larger than the message: not taken
    await until(() => wrongSize.ready);
    const before = warmReceiveCounters().warm;
    const got = decodeInChunks(framed(big), lcg(1), 50_000);
    assert.deepEqual(got, [framed(big)]);
    assert.equal(warmReceiveCounters().warm, before);
    wrongSize.cancel();
    assert.equal(wrongSize.ready, false);
    assert.equal(takeWarm(1_000_000), undefined, "a cancelled reservation is gone");
    assert.equal(reserveWarmReceive(100), undefined, "below the minimum nothing is reserved");
    assert.equal(reserveWarmReceive(WARM_RECEIVE_BYTES_MAX + 1), undefined, "nor above the maximum");
  });

  it("bounds the raw response of a request from above, within the decoder's slack", () => {
    const frameBytes = 48 * 64 * 3;
    const summary: RequestSummary = { requestId: "r".repeat(64), model: "dream-reference-tiny", frames: 3 * 13, cost: { micros: 19_500_000, usd: "19.500000" }, engineWallMs: 4_000_000_000, queueMs: 99_999, numSteps: 4, seed: 2 ** 31, fps: 10, batchSize: 32 };
    const request = PredictBatchRequest.fromPartial({
      model: "dream-reference-tiny",
      startFrame: { encoding: FrameEncoding.RAW_RGB8, data: new Uint8Array(frameBytes), height: 48, width: 64 },
      candidates: [0, 1, 2].map(() => ({ data: new Uint8Array(12 * 384 * 4), shape: [12, 384] })),
    });
    const response: PredictBatchResponse = {
      rollouts: [0, 1, 2].map((c) => ({ candidateIndex: c, encoding: FrameEncoding.RAW_RGB8, frames: Array.from({ length: 13 }, () => new Uint8Array(frameBytes)), video: new Uint8Array(0), frameCount: 13, height: 48, width: 64, jpegQuality: 0, cancelled: false })),
      summary,
    };
    const actual = PredictBatchResponse.encode(response).finish().byteLength + 5;
    const bound = rawResponseBytesBound(request)!;
    assert.ok(bound >= actual, `${bound} >= ${actual}`);
    assert.ok(bound - actual <= 64 * 1024, "close enough for the decoder to take the reservation");
    assert.equal(rawResponseBytesBound({ ...request, output: { encoding: FrameEncoding.PNG, jpegQuality: 0 } }), undefined, "encoded outputs have no size bound");
    assert.equal(rawResponseBytesBound({ ...request, startFrame: { ...request.startFrame!, height: 0, width: 0 } }), undefined, "unknown resolution");
  });
});
