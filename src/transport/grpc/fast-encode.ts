// Single-allocation encoders for the frame-heavy responses. The generic writer grows its buffer by
// doubling and copies again in finish() and Buffer.from(): three or four copies of a 361 MB K=8 raw
// response. Here the exact size is computed first and every frame is copied exactly once. Field order
// within a message is free in protobuf, so the small scalar fields come from the generated encoder and
// the frame bytes are appended after them.
import { assert } from "../../core/assert";
import { RequestSummary, Rollout, type PredictBatchResponse, type PredictResponse } from "../../gen/dream/v1/dream";

const varintSize = (n: number): number => {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
};

function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

const FRAMES_TAG = (3 << 3) | 2; // Rollout.frames
const VIDEO_TAG = (4 << 3) | 2; // Rollout.video

interface PlannedRollout {
  head: Uint8Array;
  frames: Uint8Array[];
  video: Uint8Array;
  size: number;
}

function planRollout(r: Rollout): PlannedRollout {
  const head = Rollout.encode({ ...r, frames: [], video: new Uint8Array(0) }).finish();
  let size = head.byteLength;
  for (const f of r.frames) size += 1 + varintSize(f.byteLength) + f.byteLength;
  if (r.video.byteLength > 0) size += 1 + varintSize(r.video.byteLength) + r.video.byteLength;
  return { head, frames: r.frames, video: r.video, size };
}

function writeRollout(buf: Buffer, pos: number, p: PlannedRollout): number {
  buf.set(p.head, pos);
  pos += p.head.byteLength;
  for (const f of p.frames) {
    buf[pos++] = FRAMES_TAG;
    pos = writeVarint(buf, pos, f.byteLength);
    buf.set(f, pos);
    pos += f.byteLength;
  }
  if (p.video.byteLength > 0) {
    buf[pos++] = VIDEO_TAG;
    pos = writeVarint(buf, pos, p.video.byteLength);
    buf.set(p.video, pos);
    pos += p.video.byteLength;
  }
  return pos;
}

/** Encodes `rollouts` as repeated field `rolloutTag` followed by `summary` as field `summaryTag`. */
function encodeWithRollouts(rollouts: Rollout[], rolloutField: number, summary: RequestSummary | undefined, summaryField: number): Buffer {
  const planned = rollouts.map(planRollout);
  const summaryBytes = summary ? RequestSummary.encode(summary).finish() : undefined;
  let size = 0;
  for (const p of planned) size += 1 + varintSize(p.size) + p.size;
  if (summaryBytes) size += 1 + varintSize(summaryBytes.byteLength) + summaryBytes.byteLength;
  const buf = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const p of planned) {
    buf[pos++] = (rolloutField << 3) | 2;
    pos = writeVarint(buf, pos, p.size);
    pos = writeRollout(buf, pos, p);
  }
  if (summaryBytes) {
    buf[pos++] = (summaryField << 3) | 2;
    pos = writeVarint(buf, pos, summaryBytes.byteLength);
    buf.set(summaryBytes, pos);
    pos += summaryBytes.byteLength;
  }
  assert(pos === size, `fast-encode size mismatch: planned ${size}, wrote ${pos}`);
  return buf;
}

export const encodePredictBatchResponse = (m: PredictBatchResponse): Buffer => encodeWithRollouts(m.rollouts, 1, m.summary, 2);
export const encodePredictResponse = (m: PredictResponse): Buffer => encodeWithRollouts(m.rollout ? [m.rollout] : [], 1, m.summary, 2);
