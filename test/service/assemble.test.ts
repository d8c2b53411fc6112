// The raw-arena assembler on its own, with a plain layout: frames land at their planned offsets, the
// prefault never overwrites a frame, and a frame that does not fit fails drain() without ever becoming
// an unhandled rejection when the request has already failed and nobody drains.
import assert from "node:assert/strict";
import { openAssembler, RawArenaAssembler } from "../../src/service/assemble";
import type { RawResponseLayout } from "../../src/service/context";
import type { CodecPort } from "../../src/service/ports";

const shape = { height: 2, width: 2, fps: 10, candidates: 2, framesPerRollout: 3 };
const FRAME = 2 * 2 * 3;
// Frames packed back to back with a 1-byte gap after each, so offsets are not trivially contiguous.
const touched: string[] = [];
const plainLayout = (warm: boolean): RawResponseLayout => (rollouts, frames, frameBytes) => {
  const buffer = new Uint8Array(rollouts.length * frames * (frameBytes + 1));
  const frameOffset = (c: number, f: number) => {
    if (f >= frames || frameBytes !== FRAME) throw new Error(`frame ${f} of candidate ${c} does not fit`);
    return (c * frames + f) * (frameBytes + 1);
  };
  return {
    buffer,
    warm,
    frameOffset,
    putFrame: (c, f, bytes) => {
      if (bytes.byteLength !== frameBytes) throw new Error(`frame ${f} of candidate ${c} does not fit`);
      buffer.set(bytes, frameOffset(c, f));
    },
    touchFrame: (c, f) => {
      touched.push(`${c}/${f}`);
      buffer.fill(0, frameOffset(c, f), frameOffset(c, f) + frameBytes);
    },
  };
};
const layout = plainLayout(false);
const frame = (v: number) => new Uint8Array(FRAME).fill(v);
const noCodecs = {} as CodecPort; // raw output never reaches the codecs

describe("RawArenaAssembler", () => {
  it("places every frame at the layout's offset; finish returns views in order, cut where a candidate stopped", async () => {
    const a = await openAssembler(noCodecs, { encoding: "RAW_RGB8", jpegQuality: 0 }, shape, layout);
    assert.ok(a instanceof RawArenaAssembler);
    a.onChunk({ chunkIndex: 0, lanes: [0, 1].map((c) => ({ candidateIndex: c, firstFrameIndex: 0, frames: [frame(10 * c + 1), frame(10 * c + 2)] })) });
    a.onChunk({ chunkIndex: 1, lanes: [{ candidateIndex: 0, firstFrameIndex: 2, frames: [frame(3)] }] });
    const rollouts = await a.finish([1]);
    assert.deepEqual(rollouts.map((r) => [r.frameCount, r.cancelled, r.frames.map((f) => f[0])]), [
      [3, false, [1, 2, 3]],
      [2, true, [11, 12]],
    ]);
    for (const r of rollouts) for (const f of r.frames) assert.ok(f.every((b) => b === f[0]), "the prefault left no zeros inside a frame");
  });

  it("a frame that does not fit rejects drain(), and is never an unhandled rejection when nobody drains", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on("unhandledRejection", onUnhandled);
    try {
      const undrained = RawArenaAssembler.open(layout, shape)!;
      undrained.onChunk({ chunkIndex: 0, lanes: [{ candidateIndex: 0, firstFrameIndex: 0, frames: [new Uint8Array(FRAME + 1)] }] });
      await new Promise((r) => setTimeout(r, 20)); // the copy has failed by now; the request fails elsewhere and never drains
      const drained = RawArenaAssembler.open(layout, shape)!;
      drained.onChunk({ chunkIndex: 0, lanes: [{ candidateIndex: 1, firstFrameIndex: 3, frames: [frame(1)] }] });
      await assert.rejects(drained.drain(), /frame 3 of candidate 1 does not fit/);
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("faults a fresh arena's slots in ahead of the frames, and leaves a reused (warm) arena alone", async () => {
    touched.length = 0;
    const fresh = RawArenaAssembler.open(layout, shape)!;
    await fresh.drain();
    assert.equal(touched.length, shape.candidates * shape.framesPerRollout);
    touched.length = 0;
    const warm = RawArenaAssembler.open(plainLayout(true), shape)!;
    warm.onChunk({ chunkIndex: 0, lanes: [{ candidateIndex: 0, firstFrameIndex: 0, frames: [frame(5)] }] });
    const rollouts = await warm.finish([]);
    assert.deepEqual(touched, []);
    assert.deepEqual([...rollouts[0]!.frames[0]!], [...frame(5)]);
  });

  it("non-raw output, or no layout from the transport, takes the encoder path", async () => {
    let opened = 0;
    const codecs = { openRolloutEncoders: async (n: number) => (opened += n, []) } as unknown as CodecPort;
    assert.ok(!((await openAssembler(codecs, { encoding: "PNG", jpegQuality: 0 }, shape, layout)) instanceof RawArenaAssembler));
    assert.ok(!((await openAssembler(codecs, { encoding: "RAW_RGB8", jpegQuality: 0 }, shape, undefined)) instanceof RawArenaAssembler));
    assert.equal(opened, 4);
  });
});
