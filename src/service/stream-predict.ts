// Models.StreamPredict: every live candidate's new frames as soon as each chunk finishes, then a summary.
// Memory stays bounded: when limits.streamBufferedChunksMax encoded chunks are waiting for the reader
// (or a send stalled past streamStallMsMax), the request is cancelled with STREAM_STALLED and only the
// frames generated so far are billed. Chunks still encoding are the server's own backlog, bounded by the
// request's size, and never count as the reader's.
import { ServiceError, invalidArgument } from "../core/errors";
import { limits } from "../core/limits";
import { FrameEncoding, type PredictBatchRequest, type StreamPredictResponse } from "../gen/dream/v1/dream";
import type { CallContext } from "./context";
import { summaryHeaders, type PredictFlow } from "./predict-flow";
import type { Account, CodecPort } from "./ports";
import { batchInput } from "./predict";

export async function streamPredict(
  flow: PredictFlow,
  codecs: CodecPort,
  req: PredictBatchRequest,
  ctx: CallContext,
  account: Account,
  send: (m: StreamPredictResponse) => Promise<void>,
  bounds: { bufferedChunksMax: number; stallMs: number } = { bufferedChunksMax: limits.streamBufferedChunksMax, stallMs: limits.streamStallMsMax },
): Promise<void> {
  if (req.output?.encoding === FrameEncoding.MP4) {
    throw invalidArgument("output.encoding", "MP4 is a whole-rollout container; stream RAW_RGB8, PNG or JPEG frames (or call PredictBatch for MP4)");
  }
  const admitted = await flow.admit(ctx, account, batchInput(req));
  const { encoding, jpegQuality } = admitted.output;
  const [height, width] = admitted.slot.entry.resolution;
  // Encoded chunks waiting for the reader. Chunks still encoding are our own backlog, not the reader's,
  // and do not count (bounded by the request's size, like chunks held for the hold's record).
  let unsent = 0;
  let failure: unknown;
  let chain: Promise<void> = Promise.resolve();
  const sendBounded = async (message: StreamPredictResponse): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ServiceError("STREAM_STALLED", `stream reader stalled for ${bounds.stallMs} ms`)), bounds.stallMs);
    });
    try {
      await Promise.race([send(message), stalled]);
    } finally {
      clearTimeout(timer);
    }
  };

  const run = flow.run(admitted, ctx, (chunk) => {
    if (unsent >= bounds.bufferedChunksMax) {
      throw new ServiceError("STREAM_STALLED", `stream reader fell ${unsent} chunks behind (limit ${bounds.bufferedChunksMax})`);
    }
    // Encode now (in parallel with the next chunk's compute); send strictly in chunk order.
    const encoded = Promise.all(
      chunk.lanes.map(async (lane) => ({
        candidateIndex: lane.candidateIndex,
        firstFrameIndex: lane.firstFrameIndex,
        frames: await Promise.all(lane.frames.map((f) => codecs.encodeFrame(encoding, f, { height, width, jpegQuality }))),
      })),
    ).then((candidates) => {
      unsent++;
      return candidates;
    });
    const sent = chain.then(async () => {
      const candidates = await encoded;
      await sendBounded({ event: { $case: "chunk", value: { chunkIndex: chunk.chunkIndex, encoding: FrameEncoding[encoding], candidates } } });
      unsent--;
    });
    chain = sent.catch(() => undefined);
    // A failed send surfaces on the next chunk (the flow cancels the request on a rejected promise).
    sent.catch((err: unknown) => {
      failure ??= err;
    });
    if (failure !== undefined) throw failure;
    // Its send, so a burst of held chunks (chunk-delivery.ts) is handed over at the reader's pace.
    return sent;
  });
  let settled: Awaited<typeof run>;
  try {
    settled = await run;
  } catch (err) {
    // A deadline or engine failure ends the request while its last chunks may still be encoding or
    // queued here: deliver them before the status, since a deadline bills them. A stalled or vanished
    // reader gets nothing more (each send is bounded by the stall timer anyway).
    const readerFailed = failure !== undefined || ctx.signal.aborted || (err instanceof ServiceError && err.reason === "STREAM_STALLED");
    if (!readerFailed) await chain;
    throw err;
  }
  await chain;
  if (failure !== undefined) throw failure;
  summaryHeaders(ctx, settled.summary);
  await sendBounded({
    event: {
      $case: "summary",
      value: { summary: settled.summary, framesPerCandidate: settled.framesPerCandidate, cancelledCandidates: settled.end.cancelled },
    },
  });
}
