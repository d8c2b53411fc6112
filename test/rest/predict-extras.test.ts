// The documented predict extras: multipart in, MP4 / multipart/mixed out, X-DreamEngine-* headers —
// all calling the same Predict/PredictBatch handlers with the same request messages as JSON does.

import { strict as assert } from "node:assert";
import { FrameEncoding, PredictBatchResponse, PredictResponse, type PredictBatchRequest, type PredictRequest, type Rollout } from "../../src/gen/dream/v1/dream";
import { encodeNpy } from "../../src/codec/npy";
import { actionsNpy, FakeMethods, float64Npy, formBody, json, parseMixed, PNG_BYTES, start, type Started } from "./helpers";

const PREDICT = "/dream.v1.Models/Predict";
const BATCH = "/dream.v1.Models/PredictBatch";
const T = 48;

const fakeMp4 = (i: number): Buffer => Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from(`ftypisom-candidate-${i}-`), Buffer.alloc(100 + i, i)]);

function rolloutFor(req: { output?: { encoding: FrameEncoding } }, i: number): Partial<Rollout> {
  const enc = req.output?.encoding ?? FrameEncoding.RAW_RGB8;
  if (enc === FrameEncoding.MP4) return { candidateIndex: i, encoding: enc, video: fakeMp4(i), frameCount: T + 1, height: 480, width: 640 };
  return { candidateIndex: i, encoding: enc, frames: [Buffer.from(`frame-${i}-0`), Buffer.from(`frame-${i}-1`)], frameCount: 2, height: 480, width: 640 };
}

describe("rest: predict extras (multipart, MP4, multipart/mixed)", () => {
  let s: Started;
  const fake = new FakeMethods()
    .unary(PREDICT, (req: PredictRequest, ctx) =>
      PredictResponse.fromPartial({
        rollout: rolloutFor(req, 0),
        summary: { requestId: ctx.requestId, model: req.model, frames: 49, cost: { micros: 24_500, usd: "0.0245" }, engineWallMs: 1234, batchSize: 1 },
      }),
    )
    .unary(BATCH, (req: PredictBatchRequest, ctx) =>
      PredictBatchResponse.fromPartial({
        rollouts: req.candidates.map((_, i) => rolloutFor(req, i)),
        summary: { requestId: ctx.requestId, model: req.model, frames: 49 * req.candidates.length, cost: { micros: 24_500 * req.candidates.length, usd: (0.0245 * req.candidates.length).toFixed(4) }, engineWallMs: 99, batchSize: req.candidates.length },
      }),
    );
  fake.stream("/dream.v1.Models/StreamPredict", async () => {});
  before(async () => (s = await start(fake.table)));
  after(() => s.close());

  const post = (path: string, form: ReturnType<typeof formBody>, headers: Record<string, string> = {}) =>
    fetch(s.url + path, { method: "POST", headers: { "content-type": form.contentType, ...headers }, body: new Uint8Array(form.body) });

  it("multipart predict builds the PredictRequest and answers the MP4 with the X-DreamEngine-* headers", async () => {
    const npy = actionsNpy(T);
    const res = await post("/v1/models/dreamdojo-2b-gr1/predict", formBody([
      { name: "frame", filename: "start.png", type: "image/png", data: PNG_BYTES },
      { name: "actions", filename: "actions.npy", type: "application/octet-stream", data: npy },
      { name: "num_steps", data: "8" },
      { name: "guidance", data: "1.5" },
      { name: "deadline_ms", data: "60000" },
    ]), { authorization: "Bearer dre_x" });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(res.headers.get("content-type"), "video/mp4");
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), fakeMp4(0));
    assert.match(res.headers.get("x-dreamengine-request-id")!, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers.get("x-dreamengine-estimated-charge-usd"), "0.0245");
    assert.equal(res.headers.get("x-dreamengine-frames"), "49");
    assert.equal(res.headers.get("x-dreamengine-engine-wall-ms"), "1234");

    const req: PredictRequest = fake.last(PREDICT).request;
    assert.equal(req.model, "dreamdojo-2b-gr1");
    assert.equal(req.startFrame!.encoding, FrameEncoding.FRAME_ENCODING_UNSPECIFIED, "sniffed by the service");
    assert.deepEqual(Buffer.from(req.startFrame!.data), PNG_BYTES);
    assert.deepEqual(req.actions!.shape, [T, 384]);
    assert.deepEqual(Buffer.from(req.actions!.data), npy.subarray(npy.length - T * 384 * 4), "packed LE float32, exactly the .npy payload");
    assert.deepEqual(req.params, { numSteps: 8, guidance: 1.5, seed: 0 });
    assert.deepEqual(req.output, { encoding: FrameEncoding.MP4, jpegQuality: 0 });
    assert.equal(req.deadlineMs, 60000);
    assert.equal(fake.last(PREDICT).ctx.apiKey, "dre_x");
  });

  it("float64 actions are narrowed to float32", async () => {
    const values = Array.from({ length: 2 * 384 }, (_, i) => i * 0.1);
    const res = await post("/v1/models/m/predict", formBody([
      { name: "frame", data: PNG_BYTES },
      { name: "actions", data: float64Npy(values, [2, 384]) },
      { name: "seed", data: "7" },
    ]));
    assert.equal(res.status, 200);
    const req: PredictRequest = fake.last(PREDICT).request;
    const got = new Float32Array(new Uint8Array(req.actions!.data).buffer);
    assert.deepEqual([...got], [...Float32Array.from(values)]);
    assert.equal(req.params!.seed, 7);
  });

  it("output=png answers multipart/mixed with one image part per frame", async () => {
    const res = await post("/v1/models/m/predict", formBody([
      { name: "frame", data: PNG_BYTES },
      { name: "actions", data: actionsNpy(2) },
      { name: "output", data: "png" },
    ]));
    assert.equal(res.status, 200);
    assert.equal(fake.last(PREDICT).request.output.encoding, FrameEncoding.PNG);
    const type = res.headers.get("content-type")!;
    assert.match(type, /^multipart\/mixed; boundary=/);
    const parts = parseMixed(Buffer.from(await res.arrayBuffer()), type);
    assert.deepEqual(
      parts.map((p) => [p.headers["content-type"], p.headers["x-dreamengine-frame-index"], p.body.toString()]),
      [
        ["image/png", "0", "frame-0-0"],
        ["image/png", "1", "frame-0-1"],
      ],
    );
  });

  it("predict_batch with K=3 actions parts answers three video/mp4 parts in submission order", async () => {
    const npys = [0, 1, 2].map((k) => actionsNpy(T, 384, (i) => k * 10 + i / 1e4));
    const res = await post("/v1/models/m/predict_batch", formBody([
      { name: "frame", data: PNG_BYTES },
      ...npys.map((data, k) => ({ name: "actions", filename: `a${k}.npy`, data })),
    ]));
    assert.equal(res.status, 200, await res.clone().text());
    const req: PredictBatchRequest = fake.last(BATCH).request;
    assert.equal(req.candidates.length, 3);
    req.candidates.forEach((c, k) => {
      assert.deepEqual(c.shape, [T, 384]);
      assert.deepEqual(Buffer.from(c.data), npys[k]!.subarray(npys[k]!.length - T * 384 * 4));
    });
    assert.equal(res.headers.get("x-dreamengine-estimated-charge-usd"), "0.0735");
    assert.equal(res.headers.get("x-dreamengine-frames"), "147");
    assert.equal(res.headers.get("x-dreamengine-engine-wall-ms"), "99");
    const type = res.headers.get("content-type")!;
    assert.match(type, /^multipart\/mixed; boundary=/);
    const parts = parseMixed(Buffer.from(await res.arrayBuffer()), type);
    assert.equal(parts.length, 3);
    parts.forEach((p, k) => {
      assert.equal(p.headers["content-type"], "video/mp4");
      assert.equal(p.headers["x-dreamengine-candidate-index"], String(k));
      assert.deepEqual(p.body, fakeMp4(k));
    });
  });

  it("predict_batch accepts one (K, T, 384) .npy", async () => {
    const flat = new Float32Array(3 * T * 384).map((_, i) => i);
    const res = await post("/v1/models/m/predict_batch", formBody([
      { name: "frame", data: PNG_BYTES },
      { name: "actions", data: encodeNpy(flat, [3, T, 384]) },
    ]));
    assert.equal(res.status, 200, await res.clone().text());
    const req: PredictBatchRequest = fake.last(BATCH).request;
    assert.equal(req.candidates.length, 3);
    assert.deepEqual(req.candidates[2]!.shape, [T, 384]);
    assert.deepEqual(Buffer.from(req.candidates[2]!.data), Buffer.from(flat.buffer, 2 * T * 384 * 4, T * 384 * 4));
  });

  it("JSON predict builds the same request as the multipart form, and answers proto JSON (MP4 by default)", async () => {
    const npy = actionsNpy(T);
    await post("/v1/models/m/predict", formBody([
      { name: "frame", data: PNG_BYTES },
      { name: "actions", data: npy },
    ]));
    const fromForm = fake.last(PREDICT).request;
    const res = await fetch(`${s.url}/v1/models/m/predict`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ startFrame: { data: PNG_BYTES.toString("base64") }, actions: { data: npy.subarray(npy.length - T * 384 * 4).toString("base64"), shape: [T, 384] }, params: { seed: "0" } }),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(fake.last(PREDICT).request, fromForm);
    assert.match(res.headers.get("content-type")!, /^application\/json/);
    assert.equal(res.headers.get("x-dreamengine-frames"), "49");
    const body = await json(res);
    assert.equal(body.rollout.encoding, "MP4");
    assert.deepEqual(Buffer.from(body.rollout.video, "base64"), fakeMp4(0));
    assert.equal(body.summary.cost.usd, "0.0245");
    assert.equal(body.summary.engine_wall_ms, 1234);
  });

  it("JSON predict with Accept: video/mp4 answers the MP4; an explicit JSON output encoding is kept", async () => {
    const body = JSON.stringify({ start_frame: { data: PNG_BYTES.toString("base64") }, actions: { data: "", shape: [0, 384] } });
    const mp4 = await fetch(`${s.url}/v1/models/m/predict`, { method: "POST", headers: { "content-type": "application/json", accept: "video/mp4" }, body });
    assert.equal(mp4.headers.get("content-type"), "video/mp4");
    assert.deepEqual(Buffer.from(await mp4.arrayBuffer()), fakeMp4(0));
    const raw = await fetch(`${s.url}/v1/models/m/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ output: { encoding: "RAW_RGB8" } }) });
    assert.equal(fake.last(PREDICT).request.output.encoding, FrameEncoding.RAW_RGB8);
    assert.equal((await json(raw)).rollout.frames.length, 2);
  });

  it("a form upload with Accept: application/json answers proto JSON", async () => {
    const res = await post("/v1/models/m/predict", formBody([{ name: "frame", data: PNG_BYTES }, { name: "actions", data: actionsNpy(1) }]), { accept: "application/json" });
    assert.match(res.headers.get("content-type")!, /^application\/json/);
    assert.equal((await json(res)).summary.frames, 49);
  });

  it("names the problem in bad forms (400)", async () => {
    const cases: Array<[Parameters<typeof formBody>[0], RegExp, string?]> = [
      [[{ name: "actions", data: actionsNpy(1) }], /^frame: required part missing/],
      [[{ name: "frame", data: PNG_BYTES }], /^actions: required part missing/],
      [[{ name: "frame", data: PNG_BYTES }, { name: "actions", data: Buffer.from("not npy") }], /^actions: not a valid \.npy file/],
      [[{ name: "frame", data: PNG_BYTES }, { name: "actions", data: actionsNpy(1) }, { name: "output", data: "gif" }], /^output: expected mp4, png, jpeg or raw/],
      [[{ name: "frame", data: PNG_BYTES }, { name: "actions", data: actionsNpy(1) }, { name: "colour", data: "x" }], /^colour: unknown form field/],
      [[{ name: "frame", data: PNG_BYTES }, { name: "actions", data: actionsNpy(1) }, { name: "num_steps", data: "-1" }], /^num_steps: expected an integer/],
      [[{ name: "frame", data: PNG_BYTES }, { name: "actions", data: actionsNpy(1) }, { name: "actions", data: actionsNpy(1) }], /^actions: expected one actions part/],
    ];
    for (const [parts, re] of cases) {
      const res = await post("/v1/models/m/predict", formBody(parts));
      assert.equal(res.status, 400);
      const body = await json(res);
      assert.equal(body.error.reason, "INVALID_ARGUMENT");
      assert.match(body.error.message, re);
    }
    const noBoundary = await fetch(`${s.url}/v1/models/m/predict`, { method: "POST", headers: { "content-type": "multipart/form-data" }, body: "x" });
    assert.equal(noBoundary.status, 400);
    assert.match((await json(noBoundary)).error.message, /boundary/);
  });

  it("a uint64 the generated code cannot hold (seed > 2^53) is a 400, not a 500", async () => {
    const res = await fetch(`${s.url}/v1/models/m/predict`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ params: { seed: "18446744073709551615" } }) });
    assert.equal(res.status, 400);
    assert.match((await json(res)).error.message, /MAX_SAFE_INTEGER/);
  });

  it("routes without a media adapter refuse multipart with 415", async () => {
    const res = await post("/v1/models/m/stream_predict", formBody([{ name: "frame", data: PNG_BYTES }]));
    assert.equal(res.status, 415);
  });
});
