// Bad input that once answered 500 without a key (issue 10, item 6): a path segment that is not valid
// percent-encoding, and a .npy header nested thousands of levels deep. Both are the client's mistake:
// 400 INVALID_ARGUMENT naming the field, and nothing at error level in the log.
import { strict as assert } from "node:assert";
import { GetModelRequest, ModelSpec, PredictResponse } from "../../src/gen/dream/v1/dream";
import { FakeMethods, formBody, json, PNG_BYTES, start, type Started } from "./helpers";

const PREDICT = "/dream.v1.Models/Predict";
const GET_MODEL = "/dream.v1.Models/GetModel";

/** A .npy (version 1.0) whose shape is `levels` empty tuples inside each other. */
function deepNpy(levels: number): Buffer {
  const header = Buffer.from(`{'descr': '<f4', 'fortran_order': False, 'shape': ${"(".repeat(levels)}${")".repeat(levels)}, }\n`, "latin1");
  return Buffer.concat([Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]), header]);
}

describe("rest: malformed paths and .npy headers are 400s, not 500s", () => {
  let s: Started;
  const logged: Array<{ level: string; obj: unknown }> = [];
  const fake = new FakeMethods()
    .unary(GET_MODEL, (req: GetModelRequest) => ModelSpec.fromPartial({ slug: req.slug }))
    .unary(PREDICT, () => PredictResponse.fromPartial({}));
  before(async () => (s = await start(fake.table, {}, { logger: { warn: (obj) => logged.push({ level: "warn", obj }), error: (obj) => logged.push({ level: "error", obj }) } })));
  after(() => s.close());
  beforeEach(() => (logged.length = 0));

  for (const path of ["/v1/models/%ZZ", "/v1/models/%", "/v1/models/ok%E0%A4%A", "/v1/models/%ZZdre_abc/predict"]) {
    it(`${path} → 400 INVALID_ARGUMENT naming the path, no error-level log`, async () => {
      const res = await fetch(s.url + path, path.endsWith("/predict") ? { method: "POST", headers: { authorization: "Bearer dre_x", "content-type": "application/json" }, body: "{}" } : {});
      const body = await json(res);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error.reason, "INVALID_ARGUMENT");
      assert.equal(body.error.field, "path");
      assert.match(body.error.message, /^path: bad percent-encoding/);
      assert.deepEqual(logged.filter((l) => l.level === "error"), []);
    });
  }

  it("a multipart predict whose actions .npy nests its shape 3,000 levels deep → 400 naming actions, no error-level log", async () => {
    const form = formBody([
      { name: "frame", filename: "start.png", type: "image/png", data: PNG_BYTES },
      { name: "actions", filename: "actions.npy", type: "application/octet-stream", data: deepNpy(3_000) },
    ]);
    const res = await fetch(`${s.url}/v1/models/dream-reference-tiny/predict`, { method: "POST", headers: { authorization: "Bearer dre_x", "content-type": form.contentType }, body: new Uint8Array(form.body) });
    const body = await json(res);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.equal(body.error.reason, "INVALID_ARGUMENT");
    assert.equal(body.error.field, "actions");
    assert.match(body.error.message, /nested deeper than/);
    assert.deepEqual(logged.filter((l) => l.level === "error"), []);
  });
});
