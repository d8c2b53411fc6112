// An annotated RPC in a test-only proto is routed, transcoded (both JSON name styles, int64, bytes,
// enums, maps, oneofs, nested query parameters) and documented with no routing code naming it.
// Codecs come from @grpc/proto-loader, so this also shows the shim is not tied to ts-proto.

import { strict as assert } from "node:assert";
import { FakeMethods, fixtureApi, json, start, type Started } from "./helpers";

const ECHO = "/fixture.v1.Echo/Echo";

describe("rest: annotated test proto served without new routing code", () => {
  let s: Started;
  const fake = new FakeMethods()
    // proto-loader objects: camelCase keys, int64 as strings (longs: String), enums as names.
    .unary(ECHO, (req) => ({ echoed: req, huge: "9007199254740993" }))
    .stream("/fixture.v1.Echo/Ticks", async (req, _ctx, send) => {
      for (let i = 0; i < req.n; i++) await send({ i });
    });

  before(async () => (s = await start(fake.table, {}, { api: fixtureApi() })));
  after(() => s.close());

  it("lists every binding of the annotated RPCs and nothing for the unannotated one", () => {
    const routes = s.rest.router.routes.map((r) => `${r.httpMethod} ${r.template.source} -> ${r.method.path}`).sort();
    assert.deepEqual(routes, [
      "GET /v1/echo-files/{name=files/**} -> /fixture.v1.Echo/Echo",
      "GET /v1/ticks -> /fixture.v1.Echo/Ticks",
      "GET /v1/{name=things/*}:echo -> /fixture.v1.Echo/Echo",
      "PATCH /v1/echo/{name} -> /fixture.v1.Echo/Echo",
      "POST /v1/{name=things/*}:echo -> /fixture.v1.Echo/Echo",
    ]);
  });

  it("GET: path variable with verb, query params incl. nested a.b, repeated, enum, bytes, int64", async () => {
    const q = "count=-12&bigUnsigned=18446744073709551615&blob=3q2-7w&color=GREEN&tags=a&tags=b&inner.label=L&inner.big=5&inner.dims=3&inner.dims=4&maybe=2.5&flag=true&customJson=J&number=7";
    const res = await fetch(`${s.url}/v1/things/t1:echo?${q}`);
    assert.equal(res.status, 200, await res.clone().text());
    const got = fake.last(ECHO).request;
    assert.equal(got.name, "things/t1");
    assert.equal(got.count, "-12");
    assert.equal(got.bigUnsigned, "18446744073709551615");
    assert.deepEqual([...got.blob], [0xde, 0xad, 0xbe, 0xef], "URL-safe base64 without padding");
    assert.equal(got.color, "GREEN");
    assert.deepEqual(got.tags, ["a", "b"]);
    assert.deepEqual({ label: got.inner.label, big: got.inner.big, dims: got.inner.dims }, { label: "L", big: "5", dims: [3, 4] });
    assert.equal(got.maybe, 2.5);
    assert.equal(got.flag, true);
    assert.equal(got.renamedField, "J");
    assert.equal(got.number, 7);
    const body = await json(res);
    assert.equal(body.echoed.big_unsigned, "18446744073709551615", "uint64 beyond 2^53 comes out as a string");
    assert.equal(body.echoed.count, -12, "a safe int64 comes out as a number");
    assert.equal(body.echoed.blob, "3q2+7w==");
    assert.equal(body.echoed.renamed_field, "J", "output uses original names");
  });

  it("POST body '*': accepts lowerCamel and snake_case names, int64 as number or string, enum by number", async () => {
    const a = await fetch(`${s.url}/v1/things/t2:echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ bigUnsigned: 5, count: "123", color: 1, items: [{ label: "x", big: "7" }], scores: { a: 1, b: -2 }, renamed_field: "snake-ish", ratio: 0.1, text: "t" }),
    });
    assert.equal(a.status, 200, await a.clone().text());
    const ra = fake.last(ECHO).request;
    const b = await fetch(`${s.url}/v1/things/t2:echo`, {
      method: "POST",
      headers: { "content-type": "application/json; charset=utf-8" },
      body: JSON.stringify({ big_unsigned: "5", count: 123, color: "RED", items: [{ label: "x", big: 7 }], scores: { a: 1, b: -2 }, customJson: "snake-ish", ratio: "0.1", text: "t" }),
    });
    assert.equal(b.status, 200);
    const rb = fake.last(ECHO).request;
    assert.deepEqual(ra, rb, "both name styles and value spellings decode to the same message");
    assert.equal(ra.count, "123");
    assert.equal(ra.color, "RED");
    assert.deepEqual(ra.scores, { a: 1, b: -2 });
    const out = await json(b);
    assert.equal(out.echoed.ratio, 0.1, "float32 printed in its shortest form");
    assert.equal(out.echoed.text, "t");
    assert.equal("number" in out.echoed, false, "unset oneof member omitted");
  });

  it("emits snake_case names with defaults: 0, '', false, [], null for unset optional, omits unset messages", async () => {
    const res = await fetch(`${s.url}/v1/things/t3:echo`);
    const body = await json(res);
    assert.equal(body.huge, "9007199254740993");
    assert.equal(body.zero_count, 0);
    assert.equal(body.empty_text, "");
    assert.equal(body.no_flag, false);
    assert.deepEqual(body.none, []);
    assert.equal(body.unset_optional, null);
    assert.equal("absent" in body, false);
    assert.deepEqual(Object.keys(body.echoed).slice(0, 4), ["name", "count", "big_unsigned", "blob"]);
    assert.equal(body.echoed.color, "COLOR_UNSPECIFIED", "enum defaults by name");
    assert.deepEqual(body.echoed.scores, {});
  });

  it("PATCH with body: 'inner' puts the JSON body in that field; other fields may come from the query", async () => {
    const res = await fetch(`${s.url}/v1/echo/n1?count=3`, { method: "PATCH", headers: { "content-type": "application/json" }, body: JSON.stringify({ label: "in", dims: [1, 2] }) });
    assert.equal(res.status, 200, await res.clone().text());
    const got = fake.last(ECHO).request;
    assert.equal(got.name, "n1");
    assert.equal(got.count, "3");
    assert.equal(got.inner.label, "in");
    assert.deepEqual(got.inner.dims, [1, 2]);
    const bad = await fetch(`${s.url}/v1/echo/n1?inner.label=x`, { method: "PATCH", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(bad.status, 400, "a field inside the body field cannot come from the query");
  });

  it("'**' variables capture the rest of the path", async () => {
    const res = await fetch(`${s.url}/v1/echo-files/files/a/b/c.txt`);
    assert.equal(res.status, 200);
    assert.equal(fake.last(ECHO).request.name, "files/a/b/c.txt");
  });

  it("rejects bad input with 400 naming the field", async () => {
    const cases: Array<[string, RequestInit | undefined, RegExp]> = [
      ["/v1/things/x:echo?count=1.5", undefined, /count/],
      ["/v1/things/x:echo?color=PURPLE", undefined, /color.*RED/],
      ["/v1/things/x:echo?blob=***", undefined, /blob.*base64/],
      ["/v1/things/x:echo?inner=1", undefined, /inner/],
      ["/v1/things/x:echo", { method: "POST", headers: { "content-type": "application/json" }, body: '{"nope": 1}' }, /nope/],
      ["/v1/things/x:echo", { method: "POST", headers: { "content-type": "application/json" }, body: '{"count": 9007199254740993}' }, /count.*string/],
      ["/v1/things/x:echo", { method: "POST", headers: { "content-type": "application/json" }, body: '{"text": "a", "number": 1}' }, /only one of/],
      ["/v1/things/x:echo", { method: "POST", headers: { "content-type": "application/json" }, body: '{"count": 1, "count": 2, "big_unsigned": 1, "bigUnsigned": 2}' }, /given twice/],
      ["/v1/things/x:echo", { method: "POST", headers: { "content-type": "application/json" }, body: '{"tags": "a"}' }, /tags.*array/],
      ["/v1/things/x:echo", { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" }, /JSON/],
      ["/v1/things/x:echo?count=1", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" }, /query parameters are not accepted/],
      ["/v1/things/x:echo", { method: "POST", headers: { "content-type": "application/json" }, body: '{"inner": {"dims": [-1]}}' }, /inner\.dims\[0\]/],
    ];
    for (const [p, init, re] of cases) {
      const res = await fetch(s.url + p, init);
      assert.equal(res.status, 400, p);
      const body = await json(res);
      assert.equal(body.error.reason, "INVALID_ARGUMENT");
      assert.match(body.error.message, re, `${p} ${init?.body ?? ""}`);
    }
  });

  it("server-streaming RPCs answer newline-delimited JSON", async () => {
    const res = await fetch(`${s.url}/v1/ticks?n=3`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^application\/x-ndjson/);
    const lines = (await res.text()).trim().split("\n").map((l) => JSON.parse(l));
    assert.deepEqual(lines, [
      { i: 0, payload: "" },
      { i: 1, payload: "" },
      { i: 2, payload: "" },
    ]);
  });

  it("documents the fixture RPC in the generated OpenAPI", async () => {
    const doc = await json(await fetch(`${s.url}/v1/openapi.json`));
    assert.ok(doc.paths["/v1/{name}:echo"].get);
    assert.ok(doc.paths["/v1/{name}:echo"].post.requestBody);
    assert.equal(doc.paths["/v1/echo/{name}"].patch.operationId, "Echo_Echo_2");
    assert.ok(doc.components.schemas["fixture.v1.EchoRequest"].properties.big_unsigned);
    const params = doc.paths["/v1/{name}:echo"].get.parameters.map((p: { name: string }) => p.name);
    assert.ok(params.includes("inner.label") && params.includes("tags") && params.includes("name"));
  });
});
