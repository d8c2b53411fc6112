// The raw arena: a unary raw response laid out in wire format before its frames exist, filled frame by
// frame, and sent as it is. It must decode to exactly the message the generated encoder would send, and
// anything off-plan must fall back to the ordinary encoder rather than send a wrong message. The arena
// is asked directly (arena.framed) by whoever planned it; nothing finds it from a response's buffers.
import assert from "node:assert/strict";
import { FrameEncoding, PredictBatchResponse, PredictResponse, type RequestSummary, type Rollout } from "../../src/gen/dream/v1/dream";
import { encodePredictBatchResponse, encodePredictResponse } from "../../src/transport/grpc/fast-encode";
import { PreFramed } from "../../src/transport/grpc/raw/preframed";
import { ArenaPool } from "../../src/transport/arena-pool";
import { planRawResponse } from "../../src/transport/grpc/raw/raw-arena";

const H = 2;
const W = 3;
const FRAME_BYTES = H * W * 3;
const summary: RequestSummary = { requestId: "r-1", model: "dream-reference-tiny", frames: 12, cost: { micros: 6000, usd: "0.006" }, engineWallMs: 1234, queueMs: 3, numSteps: 4, seed: 9, fps: 10, batchSize: 3 };

const planned = (i: number, frames: number): Rollout => ({ candidateIndex: i, encoding: FrameEncoding.RAW_RGB8, frames: [], video: new Uint8Array(0), frameCount: frames, height: H, width: W, jpegQuality: 0, cancelled: false });
const pixel = (c: number, f: number, i: number) => (c * 71 + f * 13 + i) & 0xff;

/** Plans an arena for k rollouts of `frames` frames and fills it the way the service does. */
function filled(k: number, frames: number, pool?: ArenaPool, salt = 0) {
  const arena = planRawResponse(Array.from({ length: k }, (_, i) => planned(i, frames)), frames, FRAME_BYTES, pool)!;
  assert.ok(arena);
  const rollouts = Array.from({ length: k }, (_, c) => ({
    ...planned(c, frames),
    frames: Array.from({ length: frames }, (_, f) => {
      const at = arena.frameOffset(c, f);
      arena.putFrame(c, f, Uint8Array.from({ length: FRAME_BYTES }, (_, i) => pixel(c, f, i) ^ salt));
      return arena.buffer.subarray(at, at + FRAME_BYTES);
    }),
  }));
  return { arena, rollouts };
}

// Decoded from plain Uint8Arrays on both sides, so bytes fields compare as the same type.
const decodeBatch = (bytes: Uint8Array) => PredictBatchResponse.decode(new Uint8Array(bytes));
const generic = (m: PredictBatchResponse) => decodeBatch(PredictBatchResponse.encode(m).finish());

describe("raw arena (gRPC raw unary responses)", () => {
  it("a filled arena is a framed PredictBatchResponse equal to the generated encoder's, sent without a copy", () => {
    const { arena, rollouts } = filled(3, 4);
    const m: PredictBatchResponse = { rollouts, summary };
    const framed = arena.framed(m.rollouts, m.summary)!;
    assert.ok(framed, "the planned response is recognised");
    assert.equal(framed.buffer, arena.buffer.buffer, "framed bytes are the arena itself");
    assert.equal(framed[0], 0, "uncompressed");
    assert.equal(framed.readUInt32BE(1), framed.byteLength - 5, "length prefix");
    const decoded = decodeBatch(framed.subarray(5));
    assert.deepEqual(decoded, generic(m));
    assert.equal(decoded.rollouts[2]!.frames[3]![5], pixel(2, 3, 5));
    // The transport's serializer returns the same bytes (a view, not a copy) when grpc-js frames itself.
    const serialized = encodePredictBatchResponse(new PreFramed(framed));
    assert.equal(serialized.buffer, framed.buffer);
    assert.equal(serialized.byteOffset, framed.byteOffset + 5);
  });

  it("K=1 has the PredictResponse layout too (rollout = 1, summary = 2)", () => {
    const { arena, rollouts } = filled(1, 5);
    const m: PredictResponse = { rollout: rollouts[0], summary };
    const framed = arena.framed(rollouts, summary)!;
    assert.ok(framed);
    const bytes = encodePredictResponse(new PreFramed(framed));
    assert.equal(bytes.buffer, framed.buffer, "a view of the arena");
    assert.deepEqual(PredictResponse.decode(new Uint8Array(bytes)), PredictResponse.decode(PredictResponse.encode(m).finish()));
    assert.deepEqual(PredictResponse.decode(new Uint8Array(encodePredictResponse(m))), PredictResponse.decode(PredictResponse.encode(m).finish()), "the ordinary encoder agrees");
  });

  it("the summary is written at send time and may change size between sends", () => {
    const { arena, rollouts } = filled(2, 3);
    const small = arena.framed(rollouts, { ...summary, engineWallMs: 1 })!;
    const large = arena.framed(rollouts, { ...summary, engineWallMs: 4_000_000_000, requestId: "x".repeat(64) })!;
    assert.equal(large.byteLength - small.byteLength, 64 - "r-1".length + 4);
    assert.equal(PredictBatchResponse.decode(large.subarray(5)).summary!.engineWallMs, 4_000_000_000);
    assert.equal(PredictBatchResponse.decode(arena.framed(rollouts, undefined)!.subarray(5)).summary, undefined);
  });

  it("off-plan responses fall back to the ordinary encoder and still decode exactly", () => {
    const { arena, rollouts } = filled(3, 4);
    const cases: [string, PredictBatchResponse][] = [
      ["a cancelled candidate with fewer frames", { rollouts: rollouts.map((r, i) => (i === 1 ? { ...r, frames: r.frames.slice(0, 2), frameCount: 2, cancelled: true } : r)), summary }],
      ["a changed head field", { rollouts: rollouts.map((r, i) => (i === 0 ? { ...r, frameCount: 99 } : r)), summary }],
      ["frames out of order", { rollouts: rollouts.map((r, i) => (i === 2 ? { ...r, frames: [...r.frames].reverse() } : r)), summary }],
      ["fewer rollouts than planned", { rollouts: rollouts.slice(0, 2), summary }],
      ["frames that are not in an arena", { rollouts: rollouts.map((r) => ({ ...r, frames: r.frames.map((f) => Uint8Array.from(f)) })), summary }],
      ["a summary larger than the headroom", { rollouts, summary: { ...summary, model: "m".repeat(5000) } }],
    ];
    for (const [name, m] of cases) {
      assert.equal(arena.framed(m.rollouts, m.summary), undefined, name);
      assert.deepEqual(decodeBatch(encodePredictBatchResponse(m)), generic(m), name);
    }
  });

  it("a frame whose slot was written behind the arena's back (no key) is never sent as it is", () => {
    const arena = planRawResponse([planned(0, 2)], 2, FRAME_BYTES)!;
    arena.putFrame(0, 0, new Uint8Array(FRAME_BYTES).fill(1));
    arena.buffer.fill(2, arena.frameOffset(0, 1), arena.frameOffset(0, 1) + FRAME_BYTES); // not through putFrame
    const rollouts = [{ ...planned(0, 2), frames: [0, 1].map((f) => arena.buffer.subarray(arena.frameOffset(0, f), arena.frameOffset(0, f) + FRAME_BYTES)) }];
    assert.equal(arena.framed(rollouts, summary), undefined);
    assert.deepEqual(decodeBatch(encodePredictBatchResponse({ rollouts, summary })), generic({ rollouts, summary }));
    arena.touchFrame(0, 1); // keys the slot (and zeroes it), as the prefault does
    arena.putFrame(0, 1, new Uint8Array(FRAME_BYTES).fill(2));
    assert.deepEqual(decodeBatch(arena.framed(rollouts, summary)!.subarray(5)), generic({ rollouts, summary }));
    assert.throws(() => arena.putFrame(0, 2, new Uint8Array(FRAME_BYTES)), /no slot for frame 2/);
    assert.throws(() => arena.putFrame(0, 0, new Uint8Array(FRAME_BYTES + 1)), /has 19 bytes, the plan 18/);
  });

  it("a sent response's buffer is reused, warm, by the next response of that size; released once, bounded", () => {
    const pool = new ArenaPool(10_000);
    const first = filled(2, 3, pool);
    assert.equal(first.arena.warm, false);
    assert.ok(first.arena.framed(first.rollouts, summary));
    first.arena.release();
    first.arena.release(); // a second release changes nothing
    assert.equal(pool.pooledBytes(), first.arena.buffer.byteLength);
    assert.equal(first.arena.framed(first.rollouts, summary), undefined, "a released arena frames nothing: its buffer may hold another response");
    assert.equal(filled(2, 4, pool).arena.warm, false, "another size gets a fresh buffer");
    const second = filled(2, 3, pool, 0x5a);
    assert.equal(second.arena.warm, true);
    assert.equal(second.arena.buffer.buffer, first.arena.buffer.buffer);
    assert.equal(pool.pooledBytes(), 0);
    const m = { rollouts: second.rollouts, summary };
    assert.deepEqual(decodeBatch(second.arena.framed(m.rollouts, m.summary)!.subarray(5)), generic(m));
    assert.equal(first.arena.framed(first.rollouts, summary), undefined, "nor when its buffer is reused");
    // The released response's frames alias the reused buffer: that is why release waits for the send.
    assert.equal(first.rollouts[1]!.frames[2]![4], pixel(1, 2, 4) ^ 0x5a);
    // Releasing an unpooled arena pools nothing; the pool keeps at most its byte budget, newest first.
    const unpooled = filled(1, 1);
    assert.ok(unpooled.arena.framed(unpooled.rollouts, summary));
    unpooled.arena.release();
    assert.equal(pool.pooledBytes(), 0);
    const small = new ArenaPool(second.arena.buffer.byteLength + 10);
    const a = filled(2, 3, small);
    const b = filled(2, 3, small);
    assert.ok(a.arena.framed(a.rollouts, summary) && b.arena.framed(b.rollouts, summary));
    a.arena.release();
    b.arena.release();
    assert.equal(small.pooledBytes(), b.arena.buffer.byteLength);
    assert.equal(filled(2, 3, small).arena.buffer.buffer, b.arena.buffer.buffer);
  });

  it("declines to plan a response over the gRPC send limit, without allocating it", () => {
    assert.equal(planRawResponse([planned(0, 3)], 3, 1_000_000_000), undefined);
    assert.equal(planRawResponse([], 3, FRAME_BYTES), undefined);
  });

  it("small arenas never share an ArrayBuffer, so two live plans cannot be mistaken for each other", () => {
    const a = filled(1, 1);
    const b = filled(1, 1);
    assert.notEqual(a.arena.buffer.buffer, b.arena.buffer.buffer);
    for (const { arena, rollouts } of [a, b]) {
      const m = { rollouts, summary };
      assert.deepEqual(decodeBatch(arena.framed(m.rollouts, m.summary)!.subarray(5)), generic(m));
    }
    assert.equal(a.arena.framed(b.rollouts, summary), undefined, "an arena frames only responses in its own slots");
    assert.equal(b.arena.framed(a.rollouts, summary), undefined);
  });
});
