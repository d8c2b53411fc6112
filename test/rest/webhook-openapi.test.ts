import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { errorTable, ServiceError } from "../../src/core/errors";
import { Balance } from "../../src/gen/dream/v1/dream";
import { buildOpenApi, loadApi } from "../../src/transport/rest";
import { OPENAPI_PATH, STRIPE_WEBHOOK_PATH } from "../../src/transport/rest/server";
import { eventually, FakeMethods, json, start, type Started } from "./helpers";

describe("rest: Stripe webhook passthrough", () => {
  let s: Started;
  const received: Array<{ raw: Buffer; signature: string | undefined }> = [];
  let answer = { status: 200, body: { received: true } as unknown };
  before(
    async () =>
      (s = await start(new FakeMethods().table, {
        stripeWebhook: async (raw, signature) => {
          received.push({ raw, signature });
          return answer;
        },
      })),
  );
  after(() => s.close());

  it("hands the raw body bytes (byte-exact, never parsed) and the Stripe-Signature header to the injected verifier", async () => {
    // Odd whitespace, key order, a BOM and bytes that are not UTF-8: any re-serialisation would change them.
    const raw = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{ "id":"evt_1",\n\t"type" : "checkout.session.completed" ,"x":1.50 }'), Buffer.from([0xff, 0xfe, 0x00])]);
    const res = await fetch(s.url + STRIPE_WEBHOOK_PATH, { method: "POST", headers: { "content-type": "application/json; charset=utf-8", "stripe-signature": "t=1,v1=abc" }, body: new Uint8Array(raw) });
    assert.equal(res.status, 200);
    assert.deepEqual(await json(res), { received: true });
    assert.equal(received.length, 1);
    assert.ok(received[0]!.raw.equals(raw), "byte-exact");
    assert.equal(received[0]!.signature, "t=1,v1=abc");
  });

  it("returns the verifier's status and body as they are", async () => {
    answer = { status: 400, body: "bad signature" };
    const res = await fetch(s.url + STRIPE_WEBHOOK_PATH, { method: "POST", headers: { "content-type": "text/plain" }, body: "x" });
    assert.equal(res.status, 400);
    assert.equal(await res.text(), "bad signature");
    assert.equal(received[received.length - 1]!.signature, undefined);
  });

  it("answers 405 to other methods and 412 TOPUPS_NOT_CONFIGURED without a verifier", async () => {
    assert.equal((await fetch(s.url + STRIPE_WEBHOOK_PATH)).status, 405);
    const bare = await start(new FakeMethods().table);
    try {
      const res = await fetch(bare.url + STRIPE_WEBHOOK_PATH, { method: "POST", body: "{}" });
      assert.equal(res.status, 412);
      assert.equal((await json(res)).error.reason, "TOPUPS_NOT_CONFIGURED");
    } finally {
      await bare.close();
    }
  });
});

describe("rest: OpenAPI document", () => {
  let s: Started;
  const fake = new FakeMethods().unary("/dream.v1.Billing/GetBalance", () => Balance.fromPartial({}));
  before(async () => (s = await start(fake.table)));
  after(() => s.close());

  it("is served at GET /v1/openapi.json without a key and covers every annotated route and the extras", async () => {
    const res = await fetch(s.url + OPENAPI_PATH);
    assert.equal(res.status, 200);
    const doc = await json(res);
    assert.equal(doc.openapi, "3.1.0");
    for (const [p, m] of [
      ["/healthz", "get"],
      ["/v1/healthz", "get"],
      ["/v1/status", "get"],
      ["/v1/models", "get"],
      ["/v1/models/{slug}", "get"],
      ["/v1/models/{model}/predict", "post"],
      ["/v1/models/{model}/predict_batch", "post"],
      ["/v1/models/{model}/stream_predict", "post"],
      ["/v1/requests/{request_id}/cancel", "post"],
      ["/v1/billing/balance", "get"],
      ["/v1/billing/topup", "post"],
      ["/v1/billing/transactions", "get"],
      [STRIPE_WEBHOOK_PATH, "post"],
      [OPENAPI_PATH, "get"],
    ]) {
      assert.ok(doc.paths[p]?.[m!], `${m} ${p}`);
    }
    const predict = doc.paths["/v1/models/{model}/predict"].post;
    assert.ok(predict.requestBody.content["multipart/form-data"]);
    assert.ok(predict.responses["200"].content["video/mp4"]);
    assert.ok(predict.responses["200"].headers["X-DreamEngine-Estimated-Charge-USD"]);
    assert.ok(doc.paths["/v1/models/{model}/stream_predict"].post.responses["200"].content["application/x-ndjson"]);
    for (const status of new Set(Object.values(errorTable).map((e) => e.http))) assert.ok(predict.responses[String(status)], `error ${status}`);
    assert.deepEqual(doc.paths["/v1/models"].get.security, [], "the catalog needs no key");
    assert.equal(doc.paths["/v1/billing/balance"].get.security, undefined, "balance uses the global bearer requirement");
    const balance = doc.components.schemas["dream.v1.Balance"];
    assert.deepEqual(Object.keys(balance.properties), ["customer_id", "balance_micros", "balance_mils", "balance_cents", "balance_usd", "held_micros"]);
    assert.ok(doc.components.schemas["dream.v1.ModelPricing"].properties.price_per_frame_usd);
    assert.deepEqual(doc.paths["/v1/billing/transactions"].get.parameters.map((p: { name: string }) => p.name), ["limit"]);
    assert.equal(fake.calls.length, 0, "no handler involved");
  });

  it("docs/openapi.json is the generated document (regenerate: npx tsx src/transport/rest/write-openapi.ts)", () => {
    const committed = JSON.parse(fs.readFileSync(path.resolve(__dirname, "../../docs/openapi.json"), "utf8"));
    const fresh = buildOpenApi(loadApi(), { stripeWebhook: true, webhookPath: STRIPE_WEBHOOK_PATH, openapiPath: OPENAPI_PATH });
    assert.deepEqual(committed, JSON.parse(JSON.stringify(fresh)));
  });
});

describe("rest: metrics route and request observation", () => {
  it("serves extras.metrics at GET /metrics and reports each request's route template, status and duration", async () => {
    const seen: Array<[string, number, number, string | undefined]> = [];
    const fake = new FakeMethods().unary("/dream.v1.Models/GetModel", () => {
      throw new ServiceError("MODEL_NOT_FOUND", "no such model");
    });
    const s = await start(fake.table, { metrics: async () => "# HELP x y\nx 1\n" }, { onRequestEnd: (route, status, ms, e) => seen.push([route, status, ms, e.reason]) });
    try {
      const m = await fetch(`${s.url}/metrics`);
      assert.equal(m.status, 200);
      assert.match(m.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
      assert.equal(await m.text(), "# HELP x y\nx 1\n");
      await (await fetch(`${s.url}/v1/models/nope`)).text();
      await (await fetch(`${s.url}/nowhere`)).text();
      await eventually(() => seen.length === 3, "three observations");
      assert.deepEqual(
        seen.map(([route, status, , reason]) => [route, status, reason]),
        [
          ["/metrics", 200, undefined],
          ["/v1/models/{slug}", 404, "MODEL_NOT_FOUND"],
          ["unmatched", 404, "NOT_FOUND"],
        ],
      );
      assert.ok(seen.every(([, , ms]) => ms >= 0));
    } finally {
      await s.close();
    }
  });
});
