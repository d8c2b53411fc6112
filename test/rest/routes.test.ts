import { strict as assert } from "node:assert";
import { HealthResponse, ListModelsResponse, ModelSpec, ListTransactionsResponse } from "../../src/gen/dream/v1/dream";
import { createRestServer } from "../../src/transport/rest";
import { matchTemplate, parseTemplate, TemplateSyntaxError } from "../../src/transport/rest/path-template";
import { FakeMethods, json, start, type Started } from "./helpers";

describe("rest: path templates", () => {
  const match = (t: string, p: string) => {
    const m = matchTemplate(parseTemplate(t), p);
    return m === undefined ? undefined : Object.fromEntries(m);
  };

  it("matches literals and single-segment variables", () => {
    assert.deepEqual(match("/v1/models/{slug}", "/v1/models/dreamdojo-2b-gr1"), { slug: "dreamdojo-2b-gr1" });
    assert.equal(match("/v1/models/{slug}", "/v1/models"), undefined);
    assert.equal(match("/v1/models/{slug}", "/v1/models/a/b"), undefined);
    assert.equal(match("/v1/models/{slug}", "/v1/models/"), undefined, "a variable never binds the empty string");
    assert.deepEqual(match("/v1/models", "/v1/models"), {});
    assert.deepEqual(match("/healthz", "/healthz"), {});
  });

  it("matches multi-segment variables, ** and verbs", () => {
    assert.deepEqual(match("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/books/b2"), { name: "shelves/s1/books/b2" });
    assert.equal(match("/v1/{name=shelves/*/books/*}", "/v1/shelves/s1/cds/b2"), undefined);
    assert.deepEqual(match("/v1/{name=things/*}:echo", "/v1/things/x:echo"), { name: "things/x" });
    assert.equal(match("/v1/{name=things/*}:echo", "/v1/things/x"), undefined);
    assert.deepEqual(match("/v1/files/{path=**}", "/v1/files/a/b/c.txt"), { path: "a/b/c.txt" });
    assert.deepEqual(match("/v1/{a}/x/{b.c}", "/v1/one/x/two"), { a: "one", "b.c": "two" });
  });

  it("percent-decodes single-segment values fully and keeps %2F in multi-segment ones", () => {
    assert.deepEqual(match("/v1/models/{slug}", "/v1/models/a%2Fb%20c"), { slug: "a/b c" });
    assert.deepEqual(match("/v1/{name=things/*}", "/v1/things/a%2Fb%20c"), { name: "things/a%2Fb c" });
  });

  it("rejects malformed templates at parse time", () => {
    for (const bad of ["v1/x", "/v1/{x", "/v1/**/x", "/v1/{a{b}}", "/v1//x", "/v1/pre{x}"]) assert.throws(() => parseTemplate(bad), TemplateSyntaxError, bad);
  });
});

describe("rest: routing from google.api.http", () => {
  let s: Started;
  const fake = new FakeMethods()
    .unary("/dream.v1.Status/Health", () => HealthResponse.fromPartial({ status: "ok", live: true, ready: true, checks: { ledger: "ok" } }))
    .unary("/dream.v1.Models/ListModels", () => ListModelsResponse.fromPartial({ models: [] }))
    .unary("/dream.v1.Models/GetModel", (req) => ModelSpec.fromPartial({ slug: req.slug, active: true }))
    .unary("/dream.v1.Billing/ListTransactions", () => ListTransactionsResponse.fromPartial({}));

  before(async () => (s = await start(fake.table)));
  after(() => s.close());

  it("serves /healthz and its additional binding /v1/healthz from one annotation", async () => {
    for (const p of ["/healthz", "/v1/healthz"]) {
      const res = await fetch(s.url + p);
      assert.equal(res.status, 200, p);
      assert.deepEqual(await json(res), { status: "ok", live: true, ready: true, checks: { ledger: "ok" } });
      assert.equal(fake.last().path, "/dream.v1.Status/Health");
    }
  });

  it("binds path variables into the request message", async () => {
    const res = await fetch(`${s.url}/v1/models/dreamdojo-2b-g1`);
    assert.equal(res.status, 200);
    assert.deepEqual(fake.last("/dream.v1.Models/GetModel").request, { slug: "dreamdojo-2b-g1" });
    assert.equal((await json(res)).slug, "dreamdojo-2b-g1");
  });

  it("maps query parameters onto GET request fields", async () => {
    const res = await fetch(`${s.url}/v1/billing/transactions?limit=7`);
    assert.equal(res.status, 200);
    assert.deepEqual(fake.last("/dream.v1.Billing/ListTransactions").request, { limit: 7 });
    assert.deepEqual(await json(res), { transactions: [] });
  });

  it("unknown routes are a JSON 404 with reason NOT_FOUND and a request id", async () => {
    const res = await fetch(`${s.url}/v2/nothing?x=1`);
    assert.equal(res.status, 404);
    const body = await json(res);
    assert.equal(body.error.reason, "NOT_FOUND");
    assert.equal(body.error.code, "not_found");
    assert.equal(body.error.request_id, res.headers.get("x-dreamengine-request-id"));
    assert.match(res.headers.get("content-type")!, /^application\/json/);
  });

  it("a wrong method on a known path is a JSON 405 with Allow", async () => {
    const res = await fetch(`${s.url}/v1/models`, { method: "DELETE" });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get("allow"), "GET, HEAD, OPTIONS");
    const body = await json(res);
    assert.equal(body.error.reason, "METHOD_NOT_ALLOWED");
    const post = await fetch(`${s.url}/v1/models/x/predict`);
    assert.equal(post.status, 405);
    assert.match(post.headers.get("allow")!, /POST/);
  });

  it("OPTIONS answers 204 with Allow; HEAD is served by GET routes", async () => {
    const opt = await fetch(`${s.url}/v1/models`, { method: "OPTIONS" });
    assert.equal(opt.status, 204);
    assert.equal(opt.headers.get("allow"), "GET, HEAD, OPTIONS");
    const head = await fetch(`${s.url}/healthz`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
  });

  it("an annotated route without a handler in the table is a 404, not a crash", async () => {
    const res = await fetch(`${s.url}/v1/status`);
    assert.equal(res.status, 404);
    assert.equal((await json(res)).error.reason, "NOT_FOUND");
  });

  it("refuses to start when a MethodTable entry's kind contradicts the proto", () => {
    const wrong = new FakeMethods().stream("/dream.v1.Models/GetModel", async () => {});
    assert.throws(() => createRestServer({ methods: wrong.table }), /GetModel: MethodTable kind server-stream/);
  });

  it("rejects unknown query parameters by name", async () => {
    const res = await fetch(`${s.url}/v1/billing/transactions?limt=7`);
    assert.equal(res.status, 400);
    const body = await json(res);
    assert.equal(body.error.reason, "INVALID_ARGUMENT");
    assert.match(body.error.message, /limt/);
  });
});
