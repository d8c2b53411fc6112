// Single-allocation encoders for the frame-heavy messages (PredictResponse, PredictBatchResponse and
// StreamPredictResponse chunks). The generic writer grows its buffer by doubling and copies again in
// finish() and Buffer.from(): three or four copies of a 361 MB K=8 raw response or an 88 MB chunk. Here
// the exact size is planned first and every frame is copied exactly once. Field order within a message
// is free in protobuf, so each message's small scalar fields come from the generated encoder (its
// "head") and the frame bytes and nested messages are appended after them.
import { assert } from "../../core/assert";
import {
  CandidateFrames,
  ChunkFrames,
  RequestSummary,
  Rollout,
  StreamPredictResponse,
  type PredictBatchResponse,
  type PredictResponse,
} from "../../gen/dream/v1/dream";
import { PreFramed } from "./raw/preframed";
import { lengthDelimited, varintSize, writeVarint } from "../../wire/framing";

/** A message as: head bytes, then length-delimited fields (raw bytes or nested plans), in order. */
interface Plan {
  head: Uint8Array;
  fields: { field: number; value: Uint8Array | Plan }[];
  size: number;
}

const sizeOf = (v: Uint8Array | Plan): number => (v instanceof Uint8Array ? v.byteLength : v.size);

function plan(head: Uint8Array, fields: { field: number; value: Uint8Array | Plan }[]): Plan {
  let size = head.byteLength;
  for (const f of fields) {
    const n = sizeOf(f.value);
    size += varintSize(lengthDelimited(f.field)) + varintSize(n) + n;
  }
  return { head, fields, size };
}

function write(buf: Buffer, pos: number, p: Plan): number {
  buf.set(p.head, pos);
  pos += p.head.byteLength;
  for (const f of p.fields) {
    pos = writeVarint(buf, pos, lengthDelimited(f.field));
    pos = writeVarint(buf, pos, sizeOf(f.value));
    if (f.value instanceof Uint8Array) {
      buf.set(f.value, pos);
      pos += f.value.byteLength;
    } else {
      pos = write(buf, pos, f.value);
    }
  }
  return pos;
}

function finish(p: Plan): Buffer {
  const buf = Buffer.allocUnsafe(p.size);
  const end = write(buf, 0, p);
  assert(end === p.size, `fast-encode size mismatch: planned ${p.size}, wrote ${end}`);
  return buf;
}

const EMPTY = new Uint8Array(0);

function planRollout(r: Rollout): Plan {
  const fields = r.frames.map((value) => ({ field: 3, value }));
  if (r.video.byteLength > 0) fields.push({ field: 4, value: r.video });
  return plan(Rollout.encode({ ...r, frames: [], video: EMPTY }).finish(), fields);
}

function planWithRollouts(rollouts: Rollout[], summary: RequestSummary | undefined): Plan {
  const fields: { field: number; value: Uint8Array | Plan }[] = rollouts.map((r) => ({ field: 1, value: planRollout(r) }));
  if (summary) fields.push({ field: 2, value: RequestSummary.encode(summary).finish() });
  return plan(EMPTY, fields);
}

// A raw response assembled in its arena (raw/raw-arena.ts) arrives as a PreFramed, already in wire
// format: its message bytes, no copy here. It reaches a serializer only when grpc-js frames it itself
// (the pre-framed send off, or a grpc-js the patch does not fit; raw/README.md).
export const encodePredictBatchResponse = (m: PredictBatchResponse | PreFramed): Buffer =>
  m instanceof PreFramed ? m.message() : finish(planWithRollouts(m.rollouts, m.summary));
export const encodePredictResponse = (m: PredictResponse | PreFramed): Buffer =>
  m instanceof PreFramed ? m.message() : finish(planWithRollouts(m.rollout ? [m.rollout] : [], m.summary));

function planChunk(chunk: ChunkFrames): Plan {
  const candidates = chunk.candidates.map((c) => ({
    field: 3,
    value: plan(
      CandidateFrames.encode({ ...c, frames: [] }).finish(),
      c.frames.map((value) => ({ field: 3, value })),
    ),
  }));
  return plan(ChunkFrames.encode({ ...chunk, candidates: [] }).finish(), candidates);
}

/** Chunks carry the frames; the summary is small and takes the generated path. */
export function encodeStreamPredictResponse(m: StreamPredictResponse): Buffer {
  if (m.event?.$case !== "chunk") return Buffer.from(StreamPredictResponse.encode(m).finish());
  return finish(plan(EMPTY, [{ field: 1, value: planChunk(m.event.value) }]));
}
