// The single-copy encoders must produce messages that decode to exactly what the generated encoder
// would have sent, including empty and multi-candidate cases.
import assert from "node:assert/strict";
import { FrameEncoding, PredictBatchResponse, PredictResponse, StreamPredictResponse } from "../../src/gen/dream/v1/dream";
import { encodePredictBatchResponse, encodePredictResponse, encodeStreamPredictResponse } from "../../src/transport/grpc/fast-encode";

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const summary = { requestId: "r-1", model: "m", frames: 7, cost: { micros: 3500, usd: "0.0035" }, engineWallMs: 12, queueMs: 1, numSteps: 4, seed: 9, fps: 10, batchSize: 2 };
const rollout = (i: number, frames: number, size: number) => ({
  candidateIndex: i,
  encoding: FrameEncoding.RAW_RGB8,
  frames: Array.from({ length: frames }, (_, f) => bytes(size, i * 100 + f)),
  video: i === 1 ? bytes(300, 5) : new Uint8Array(0),
  frameCount: frames,
  height: 2,
  width: 3,
  jpegQuality: 0,
  cancelled: i === 1,
});

describe("fast encoders", () => {
  it("PredictBatchResponse round-trips to the same message as the generated encoder", () => {
    for (const m of [
      { rollouts: [rollout(0, 3, 18), rollout(1, 4, 200)], summary },
      { rollouts: [], summary },
      { rollouts: [rollout(0, 0, 0)], summary: undefined },
      { rollouts: [rollout(0, 2, 20_000)], summary },
    ] as PredictBatchResponse[]) {
      assert.deepEqual(PredictBatchResponse.decode(new Uint8Array(encodePredictBatchResponse(m))), PredictBatchResponse.decode(PredictBatchResponse.encode(m).finish()));
    }
  });

  it("PredictResponse round-trips", () => {
    const m: PredictResponse = { rollout: rollout(1, 5, 40), summary };
    assert.deepEqual(PredictResponse.decode(new Uint8Array(encodePredictResponse(m))), PredictResponse.decode(PredictResponse.encode(m).finish()));
  });

  it("StreamPredictResponse chunks and summaries round-trip", () => {
    const chunk: StreamPredictResponse = {
      event: {
        $case: "chunk",
        value: {
          chunkIndex: 3,
          encoding: FrameEncoding.PNG,
          candidates: [
            { candidateIndex: 0, firstFrameIndex: 37, frames: [bytes(130, 1), bytes(5, 2)] },
            { candidateIndex: 6, firstFrameIndex: 37, frames: [] },
          ],
        },
      },
    };
    const done: StreamPredictResponse = { event: { $case: "summary", value: { summary, framesPerCandidate: [49, 13], cancelledCandidates: [1] } } };
    for (const m of [chunk, done]) {
      assert.deepEqual(StreamPredictResponse.decode(new Uint8Array(encodeStreamPredictResponse(m))), StreamPredictResponse.decode(StreamPredictResponse.encode(m).finish()));
    }
  });
});
