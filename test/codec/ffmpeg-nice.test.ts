// Batch work's MP4 encodes run at a lower CPU priority: spawnFfmpeg's niceness reaches the process, and
// the predict path asks for background encoders exactly for BATCH requests.
import assert from "node:assert/strict";
import os from "node:os";
import { spawnFfmpeg } from "../../src/codec/ffmpeg";
import { openAssembler } from "../../src/service/assemble";
import type { CodecPort } from "../../src/service/ports";

describe("codec: background (niced) encoders for batch work", () => {
  it("spawnFfmpeg({ niceness }) lowers the child's priority; without it the child keeps ours", async () => {
    const args = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "2x2", "-i", "pipe:0", "-f", "null", "-"];
    const niced = spawnFfmpeg(args, { niceness: 10 });
    const plain = spawnFfmpeg(args);
    try {
      assert.equal(os.getPriority((await niced.child.pid)!), Math.max(os.getPriority(), 10));
      assert.equal(os.getPriority((await plain.child.pid)!), os.getPriority());
    } finally {
      for (const p of [niced, plain]) p.child.stdin.end();
      await Promise.all([niced.exited, plain.exited]);
    }
  });

  it("openAssembler opens background encoders only for batch work", async () => {
    const asked: (boolean | undefined)[] = [];
    const codecs = { openRolloutEncoders: async (n: number, _e: string, g: { background?: boolean }) => (asked.push(g.background), Array.from({ length: n }, () => ({ push() {}, finish: async () => ({ frames: [], video: undefined }), abort() {} }))) } as unknown as CodecPort;
    const output = { encoding: "MP4" as const, jpegQuality: 90 };
    const shape = { height: 2, width: 2, fps: 10, candidates: 1, framesPerRollout: 2 };
    await openAssembler(codecs, output, { ...shape, background: true }, undefined);
    await openAssembler(codecs, output, shape, undefined);
    assert.deepEqual(asked, [true, undefined]);
  });
});
