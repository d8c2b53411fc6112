// Chunk arithmetic in one place. A rollout of T actions runs as ceil(T / chunkSize) step calls; the last
// one may be partial: its actions are zero-padded to a full chunk (the model only takes full chunks)
// and the frames the padding produced are dropped, so a candidate always yields exactly T frames
// after the start frame (T + 1 with it; the caller emits the start frame as frame 0).
import { assert } from "../core/assert";

export function chunkCountOf(actionSteps: number, chunkSize: number): number {
  assert(Number.isSafeInteger(actionSteps) && actionSteps >= 1, `actionSteps must be a positive integer, got ${actionSteps}`);
  assert(Number.isSafeInteger(chunkSize) && chunkSize >= 1, `chunkSize must be a positive integer, got ${chunkSize}`);
  return Math.ceil(actionSteps / chunkSize);
}

/** Real (untrimmed) frames chunk `chunkIndex` yields: chunkSize, or fewer for a trailing partial chunk. */
export function framesInChunk(actionSteps: number, chunkSize: number, chunkIndex: number): number {
  assert(chunkIndex >= 0 && chunkIndex < chunkCountOf(actionSteps, chunkSize), `chunk ${chunkIndex} out of range`);
  return Math.min(chunkSize, actionSteps - chunkIndex * chunkSize);
}

/** Frame 0 is the start frame, so the predicted frames of chunk c start at 1 + c * chunkSize. */
export function firstFrameIndexOf(chunkIndex: number, chunkSize: number): number {
  return 1 + chunkIndex * chunkSize;
}

/**
 * The actions of one chunk, chunkSize * actionDim long. A full chunk is a view (no copy: these go to the
 * executor once per chunk per lane); only the trailing partial chunk is copied into a zero-padded array.
 */
export function chunkActions(actions: Float32Array, actionDim: number, chunkSize: number, chunkIndex: number): Float32Array {
  const chunkLength = chunkSize * actionDim;
  const start = chunkIndex * chunkLength;
  assert(start < actions.length, `chunk ${chunkIndex} starts past the end of the actions`);
  const end = start + chunkLength;
  if (end <= actions.length) return actions.subarray(start, end);
  const padded = new Float32Array(chunkLength); // zeros past the real actions
  padded.set(actions.subarray(start));
  return padded;
}

/**
 * Views of one lane's frames inside a step result (no copies; the executor hands over the buffer).
 * `count` < chunkSize drops the frames a padded chunk produced past the end of the rollout.
 */
export function laneFrameViews(frames: Uint8Array, batchIndex: number, chunkSize: number, frameBytes: number, count: number): Uint8Array[] {
  assert(count >= 1 && count <= chunkSize, `frame count ${count} outside 1..${chunkSize}`);
  const laneStart = batchIndex * chunkSize * frameBytes;
  const views: Uint8Array[] = [];
  for (let f = 0; f < count; f++) {
    const start = laneStart + f * frameBytes;
    views.push(frames.subarray(start, start + frameBytes));
  }
  return views;
}

/**
 * The actions of `chunks` consecutive chunks of every lane, each lane from its own `fromChunk` on,
 * packed into one fresh buffer ([lanes][chunks * chunkSize * actionDim], chunks past a lane's end
 * zero-padded) and returned as one view per lane. One buffer: a message to the runner clones it once,
 * where views into each lane's whole action array would clone every lane's entire array.
 */
export function runActions(lanes: readonly { actions: Float32Array; fromChunk: number }[], actionDim: number, chunkSize: number, chunks: number): Float32Array[] {
  const perLane = chunks * chunkSize * actionDim;
  const packed = new Float32Array(lanes.length * perLane);
  return lanes.map(({ actions, fromChunk }, i) => {
    const start = fromChunk * chunkSize * actionDim;
    assert(start < actions.length, `chunk ${fromChunk} starts past the end of the actions`);
    const lane = packed.subarray(i * perLane, (i + 1) * perLane);
    lane.set(actions.subarray(start, Math.min(actions.length, start + perLane)));
    return lane;
  });
}
