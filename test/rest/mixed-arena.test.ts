// A raw predict response laid out as its multipart/mixed body while the chunks compute
// (src/transport/rest/mixed-arena.ts): the body is byte for byte what the ordinary writer makes of the
// same rollouts, it is only sent as it is when the response is exactly its plan, and over HTTP a
// handler that fills ctx.rawResponseLayout gets the same answer as one that does not.

import { strict as assert } from "node:assert";
import { FrameEncoding, PredictBatchResponse, type PredictBatchRequest, type Rollout } from "../../src/gen/dream/v1/dream";
import type { CallContext } from "../../src/service/context";
import { multipartMixed } from "../../src/transport/rest/multipart";
import { ArenaPool } from "../../src/transport/arena-pool";
import { planMixedResponse } from "../../src/transport/rest/mixed-arena";
import { actionsNpy, FakeMethods, formBody, parseMixed, PNG_BYTES, start, type Started } from "./helpers";

const BATCH = "/dream.v1.Models/PredictBatch";
const H = 2;
const W = 3;
const FRAME_BYTES = H * W * 3;

const planned = (k: number, frames: number): Rollout[] =>
  Array.from({ length: k }, (_, i) => ({ candidateIndex: i, encoding: FrameEncoding.RAW_RGB8, frames: [], video: new Uint8Array(0), frameCount: frames, height: H, width: W, jpegQuality: 0, cancelled: false }));
const frameOf = (c: number, f: number): Uint8Array => new Uint8Array(FRAME_BYTES).map((_, i) => (c * 50 + f * 7 + i) & 0xff);

/** What the ordinary writer (predict-extras' rolloutParts + multipartMixed) sends for these frames. */
function ordinary(k: number, frames: number): { contentType: string; body: Buffer } {
  const parts = [];
  for (let c = 0; c < k; c++) {
    for (let f = 0; f < frames; f++) {
      parts.push({
        headers: { "Content-Type": "application/octet-stream", "X-DreamEngine-Candidate-Index": String(c), "X-DreamEngine-Frame-Index": String(f), "X-DreamEngine-Frame-Height": String(H), "X-DreamEngine-Frame-Width": String(W) },
        body: Buffer.from(frameOf(c, f)),
      });
    }
  }
  const mixed = multipartMixed(parts);
  return { contentType: mixed.contentType, body: Buffer.concat(mixed.chunks) };
}

const boundaryOf = (contentType: string): string => /boundary=(\S+)/.exec(contentType)![1]!;

describe("rest: raw multipart/mixed arena", () => {
  it("lays out the same bytes as the ordinary writer, frames as views of their slots", () => {
    const arena = planMixedResponse(planned(2, 3), 3, FRAME_BYTES)!;
    // Chunks arrive frame-major across candidates; the body is candidate-major.
    for (let f = 0; f < 3; f++) for (let c = 0; c < 2; c++) arena.putFrame(c, f, frameOf(c, f));
    const rollouts = planned(2, 3).map((r, c) => ({ ...r, frames: [0, 1, 2].map((f) => arena.buffer.subarray(arena.frameOffset(c, f), arena.frameOffset(c, f) + FRAME_BYTES)) }));
    const body = arena.body(rollouts)!;
    assert.ok(body, "a response that is exactly the plan is sent from the arena");
    const want = ordinary(2, 3);
    assert.deepEqual(body.toString("latin1"), want.body.toString("latin1").split(boundaryOf(want.contentType)).join(boundaryOf(arena.contentType)));
    assert.equal(parseMixed(body, arena.contentType).length, 6);
  });

  it("answers undefined for anything but its plan: a short rollout, a foreign frame, an unfilled slot, after release", () => {
    const arena = planMixedResponse(planned(1, 2), 2, FRAME_BYTES)!;
    arena.putFrame(0, 0, frameOf(0, 0));
    const view = (f: number) => arena.buffer.subarray(arena.frameOffset(0, f), arena.frameOffset(0, f) + FRAME_BYTES);
    assert.equal(arena.body([{ ...planned(1, 2)[0]!, frames: [view(0), view(1)] }]), undefined, "slot 1 never filled");
    arena.touchFrame(0, 1);
    assert.equal(arena.body([{ ...planned(1, 2)[0]!, frames: [view(0)] }]), undefined, "one frame short (a cancelled candidate)");
    assert.equal(arena.body([{ ...planned(1, 2)[0]!, frames: [view(0), frameOf(0, 1)] }]), undefined, "a frame that is not its slot");
    assert.ok(arena.body([{ ...planned(1, 2)[0]!, frames: [view(0), view(1)] }]));
    arena.release();
    assert.equal(arena.body([{ ...planned(1, 2)[0]!, frames: [view(0), view(1)] }]), undefined, "released: the buffer may hold another response");
  });

  it("reuses a released buffer of the same size, warm", () => {
    const pool = new ArenaPool();
    const a = planMixedResponse(planned(1, 2), 2, FRAME_BYTES, pool)!;
    assert.equal(a.warm, false);
    a.release();
    const b = planMixedResponse(planned(1, 2), 2, FRAME_BYTES, pool)!;
    assert.equal(b.warm, true);
    assert.equal(b.buffer, a.buffer);
  });

  describe("over HTTP", () => {
    let s: Started;
    let useLayout = true;
    let cancelLast = false;
    const fake = new FakeMethods().unary(BATCH, (req: PredictBatchRequest, ctx: CallContext) => {
      const k = req.candidates.length;
      const frames = 3;
      const arena = useLayout ? ctx.rawResponseLayout?.(planned(k, frames), frames, FRAME_BYTES) : undefined;
      const rollouts = planned(k, frames).map((r, c) => {
        const count = cancelLast && c === k - 1 ? 1 : frames;
        const got = Array.from({ length: count }, (_, f) => {
          if (!arena) return frameOf(c, f);
          arena.putFrame(c, f, frameOf(c, f));
          return arena.buffer.subarray(arena.frameOffset(c, f), arena.frameOffset(c, f) + FRAME_BYTES);
        });
        return { ...r, frames: got, frameCount: count };
      });
      return PredictBatchResponse.fromPartial({ rollouts, summary: { requestId: ctx.requestId, frames: k * frames, engineWallMs: 7, batchSize: k, cost: { micros: 1, usd: "0.0001" } } });
    });
    fake.stream("/dream.v1.Models/StreamPredict", async () => {});
    before(async () => (s = await start(fake.table)));
    after(() => s.close());

    const ask = async () => {
      const form = formBody([
        { name: "frame", data: PNG_BYTES },
        { name: "actions", data: actionsNpy(2) },
        { name: "actions", data: actionsNpy(2) },
        { name: "output", data: "raw" },
      ]);
      const res = await fetch(`${s.url}/v1/models/m/predict_batch`, { method: "POST", headers: { "content-type": form.contentType }, body: new Uint8Array(form.body) });
      assert.equal(res.status, 200, await res.clone().text());
      const body = Buffer.from(await res.arrayBuffer());
      const type = res.headers.get("content-type")!;
      assert.equal(res.headers.get("content-length"), String(body.length));
      return { type, body, headers: res.headers, parts: parseMixed(body, type) };
    };

    it("answers the same parts and headers whether the handler filled the planned body or not", async () => {
      useLayout = true;
      const fromArena = await ask();
      useLayout = false;
      const ordinaryWay = await ask();
      assert.deepEqual(fromArena.parts, ordinaryWay.parts);
      assert.equal(fromArena.parts.length, 6);
      assert.deepEqual(fromArena.parts[4]!.headers, { "content-type": "application/octet-stream", "x-dreamengine-candidate-index": "1", "x-dreamengine-frame-index": "1", "x-dreamengine-frame-height": String(H), "x-dreamengine-frame-width": String(W), "content-length": String(FRAME_BYTES) });
      assert.deepEqual(fromArena.parts[4]!.body, Buffer.from(frameOf(1, 1)));
      for (const name of ["x-dreamengine-frames", "x-dreamengine-engine-wall-ms", "x-dreamengine-estimated-charge-usd", "x-dreamengine-batch-size"]) {
        assert.equal(fromArena.headers.get(name), ordinaryWay.headers.get(name), name);
      }
      assert.equal(fromArena.headers.get("x-dreamengine-frames"), "6");
    });

    it("a response that departs from the plan (a cancelled candidate) goes the ordinary way, still correct", async () => {
      useLayout = true;
      cancelLast = true;
      try {
        const r = await ask();
        assert.equal(r.parts.length, 4);
        assert.deepEqual(r.parts.map((p) => [p.headers["x-dreamengine-candidate-index"], p.headers["x-dreamengine-frame-index"]]), [["0", "0"], ["0", "1"], ["0", "2"], ["1", "0"]]);
        assert.deepEqual(r.parts[3]!.body, Buffer.from(frameOf(1, 0)));
      } finally {
        cancelLast = false;
      }
    });
  });
});
