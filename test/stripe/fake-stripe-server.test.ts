// The fake Stripe API itself, over plain HTTP, so later end-to-end suites can trust it.
import { strict as assert } from "node:assert";
import { parseStripeForm, startFakeStripeServer, type FakeStripeServer } from "../fakes/fake-stripe-server";

describe("fake Stripe server", () => {
  let fake: FakeStripeServer;
  before(async () => {
    fake = await startFakeStripeServer();
  });
  after(() => fake.close());

  const call = (method: string, path: string, body?: string, key = "sk_test_x") =>
    fetch(`http://127.0.0.1:${fake.port}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, "content-type": "application/x-www-form-urlencoded" },
      body,
    });

  it("decodes stripe-node's bracket form encoding", () => {
    assert.deepEqual(parseStripeForm("a=1&b[c]=2&d[0][e]=3&d[0][f][g]=4&d[1][e]=5"), {
      a: "1",
      b: { c: "2" },
      d: [{ e: "3", f: { g: "4" } }, { e: "5" }],
    });
  });

  it("creates, records and retrieves a checkout session", async () => {
    const form = "mode=payment&success_url=https%3A%2F%2Fx%2Fs&line_items[0][quantity]=2&line_items[0][price_data][currency]=usd&line_items[0][price_data][unit_amount]=750&client_reference_id=c1&metadata[customer_id]=c1";
    const created = await call("POST", "/v1/checkout/sessions", form);
    assert.equal(created.status, 200);
    const session = (await created.json()) as { id: string; amount_total: number; metadata: object; payment_status: string };
    assert.match(session.id, /^cs_test_[A-Za-z0-9]+$/);
    assert.equal(session.amount_total, 1500);
    assert.deepEqual(session.metadata, { customer_id: "c1" });
    assert.equal(session.payment_status, "unpaid");
    assert.equal(fake.requests.at(-1)?.path, "/v1/checkout/sessions");

    fake.completeSession(session.id);
    const got = (await (await call("GET", `/v1/checkout/sessions/${session.id}`)).json()) as { payment_status: string; status: string };
    assert.deepEqual([got.status, got.payment_status], ["complete", "paid"]);
  });

  it("answers like Stripe to missing params, bad keys, unknown routes and injected failures", async () => {
    const missing = await call("POST", "/v1/checkout/sessions", "mode=payment");
    assert.equal(missing.status, 400);
    assert.equal(((await missing.json()) as { error: { type: string } }).error.type, "invalid_request_error");
    assert.equal((await call("POST", "/v1/checkout/sessions", "", "nope")).status, 401);
    assert.equal((await call("GET", "/v1/checkout/sessions/cs_test_missing")).status, 404);
    assert.equal((await call("GET", "/v1/customers")).status, 404);
    fake.failNext(503, { type: "api_error" });
    assert.equal((await call("GET", "/v1/checkout/sessions/cs_test_missing")).status, 503);
  });
});
