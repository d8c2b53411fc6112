import { strict as assert } from "node:assert";
import { Code, errorTable, ServiceError, type Reason } from "../../src/core/errors";
import { Balance } from "../../src/gen/dream/v1/dream";
import { FakeMethods, json, start, type Started } from "./helpers";

const BALANCE = "/dream.v1.Billing/GetBalance";

describe("rest: error rendering", () => {
  let s: Started;
  let next: () => unknown = () => Balance.fromPartial({});
  const logged: unknown[] = [];
  const fake = new FakeMethods().unary(BALANCE, () => next());
  before(async () => (s = await start(fake.table, {}, { logger: { warn: () => {}, error: (obj) => logged.push(obj) } })));
  after(() => s.close());

  for (const reason of Object.keys(errorTable) as Reason[]) {
    it(`${reason} → HTTP ${errorTable[reason].http} with the documented body`, async () => {
      const retryable = errorTable[reason].http === 429 || errorTable[reason].http === 503;
      next = () => {
        throw new ServiceError(reason, `boom ${reason}`, { field: "x", extra_number: 3 }, retryable ? 1.2 : undefined);
      };
      const res = await fetch(`${s.url}/v1/billing/balance`, { headers: { "x-request-id": "req-abc.1" } });
      assert.equal(res.status, errorTable[reason].http);
      assert.equal(res.headers.get("x-dreamengine-request-id"), "req-abc.1");
      const body = await json(res);
      assert.deepEqual(body, {
        error: { code: Code[errorTable[reason].code].toLowerCase(), reason, message: `boom ${reason}`, request_id: "req-abc.1", field: "x", extra_number: 3 },
      });
      assert.equal(res.headers.get("retry-after"), retryable ? "2" : null, "Retry-After rounds up to whole seconds");
    });
  }

  it("402 carries balance_cents and requested_cents; code is failed_precondition", async () => {
    next = () => {
      throw new ServiceError("INSUFFICIENT_CREDITS", "balance $0.01 does not cover $0.0245", { balance_cents: 1, requested_cents: 3, balance_micros: 10_000, requested_micros: 24_500 });
    };
    const res = await fetch(`${s.url}/v1/billing/balance`);
    assert.equal(res.status, 402);
    const { error } = await json(res);
    assert.equal(error.code, "failed_precondition");
    assert.equal(error.balance_cents, 1);
    assert.equal(error.requested_cents, 3);
    assert.equal(error.requested_micros, 24_500);
  });

  it("Retry-After is at least 1 and rate-limit headers set by the handler pass through", async () => {
    next = () => {
      const ctx = fake.last().ctx;
      ctx.responseHeaders.set("ratelimit", '"default";r=0;t=1');
      ctx.responseHeaders.set("ratelimit-policy", '"default";q=200;w=4');
      throw new ServiceError("RATE_LIMITED", "slow down", {}, 0.02);
    };
    const res = await fetch(`${s.url}/v1/billing/balance`);
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("retry-after"), "1");
    assert.equal(res.headers.get("ratelimit"), '"default";r=0;t=1');
    assert.equal(res.headers.get("ratelimit-policy"), '"default";q=200;w=4');
  });

  it("an error's own headers (ServiceError.headers) go out with it, never replacing the body's framing or the request id", async () => {
    next = () => {
      throw new ServiceError("RATE_LIMITED", "slow down", {}, 3).withHeaders({
        RateLimit: '"key";r=0;t=3',
        "ratelimit-policy": '"key";q=10;w=1',
        "content-type": "text/html",
        "content-length": "1",
        "x-dreamengine-request-id": "spoofed",
        connection: "keep-alive",
      });
    };
    const res = await fetch(`${s.url}/v1/billing/balance`, { headers: { "x-request-id": "own-id" } });
    assert.equal(res.status, 429);
    assert.equal(res.headers.get("ratelimit"), '"key";r=0;t=3', "names are sent lower-cased, whatever case the thrower used");
    assert.equal(res.headers.get("ratelimit-policy"), '"key";q=10;w=1');
    assert.equal(res.headers.get("retry-after"), "3");
    assert.equal(res.headers.get("content-type"), "application/json; charset=utf-8");
    assert.equal(res.headers.get("x-dreamengine-request-id"), "own-id");
    const body = await json(res);
    assert.equal(body.error.reason, "RATE_LIMITED");
    assert.equal(body.error.request_id, "own-id");
    assert.equal(JSON.stringify(body).includes("ratelimit"), false, "headers never reach the body");
  });

  it("a guard's refusal carries its error headers too (the 429 answered before the body is read)", async () => {
    const guarded = new FakeMethods().unary(BALANCE, () => Balance.fromPartial({})).admit(BALANCE, async () => {
      throw new ServiceError("RATE_LIMITED", "slow down", {}, 1).withHeaders({ ratelimit: '"key";r=0;t=1' });
    });
    const g = await start(guarded.table);
    try {
      const res = await fetch(`${g.url}/v1/billing/balance`);
      assert.equal(res.status, 429);
      assert.equal(res.headers.get("ratelimit"), '"key";r=0;t=1');
      assert.equal(guarded.calls.length, 0, "the handler never ran");
    } finally {
      await g.close();
    }
  });

  it("details cannot overwrite code, reason, message or request_id", async () => {
    next = () => {
      throw new ServiceError("INVALID_ARGUMENT", "m", { reason: "HACKED", code: "ok", request_id: "x" });
    };
    const { error } = await json(await fetch(`${s.url}/v1/billing/balance`));
    assert.equal(error.reason, "INVALID_ARGUMENT");
    assert.equal(error.code, "invalid_argument");
    assert.notEqual(error.request_id, "x");
  });

  it("unknown errors become 500 INTERNAL without leaking the message, and are logged", async () => {
    next = () => {
      throw new Error("secret database password in stack");
    };
    logged.length = 0;
    const res = await fetch(`${s.url}/v1/billing/balance`);
    assert.equal(res.status, 500);
    const text = await res.text();
    assert.doesNotMatch(text, /secret|password|stack/);
    assert.equal(JSON.parse(text).error.reason, "INTERNAL");
    assert.equal(logged.length, 1);
  });

  it("uses a valid incoming request id, replaces an invalid one, and generates one otherwise", async () => {
    next = () => Balance.fromPartial({});
    const a = await fetch(`${s.url}/v1/billing/balance`, { headers: { "x-dreamengine-request-id": "abc-123", "x-request-id": "other" } });
    assert.equal(a.headers.get("x-dreamengine-request-id"), "abc-123");
    assert.equal(fake.last().ctx.requestId, "abc-123");
    const b = await fetch(`${s.url}/v1/billing/balance`, { headers: { "x-request-id": "bad id with spaces" } });
    assert.match(b.headers.get("x-dreamengine-request-id")!, /^[0-9a-f-]{36}$/);
    const c = await fetch(`${s.url}/v1/billing/balance`);
    assert.match(c.headers.get("x-dreamengine-request-id")!, /^[0-9a-f-]{36}$/);
    assert.equal(fake.last().ctx.requestId, c.headers.get("x-dreamengine-request-id"));
  });

  it("builds the CallContext: bearer key, peer address, deadline headers", async () => {
    next = () => Balance.fromPartial({});
    await fetch(`${s.url}/v1/billing/balance`, { headers: { authorization: "Bearer dre_abc", "x-dreamengine-deadline-ms": "5000" } });
    let ctx = fake.last().ctx;
    assert.equal(ctx.apiKey, "dre_abc");
    assert.equal(ctx.peer, "127.0.0.1");
    assert.ok(ctx.deadlineWallMs !== undefined && ctx.deadlineWallMs > Date.now() && ctx.deadlineWallMs <= Date.now() + 5000);
    await fetch(`${s.url}/v1/billing/balance`, { headers: { authorization: "Basic Zm9vOmJhcg==", "grpc-timeout": "2S" } });
    ctx = fake.last().ctx;
    assert.equal(ctx.apiKey, undefined, "a malformed Authorization header leaves the key undefined (the handler answers 401)");
    assert.ok(ctx.deadlineWallMs !== undefined && ctx.deadlineWallMs <= Date.now() + 2000);
    await fetch(`${s.url}/v1/billing/balance`, { headers: { authorization: "Bearer" } });
    assert.equal(fake.last().ctx.apiKey, undefined);
    const bad = await fetch(`${s.url}/v1/billing/balance`, { headers: { "x-dreamengine-deadline-ms": "soon" } });
    assert.equal(bad.status, 400);
    assert.match((await json(bad)).error.message, /X-DreamEngine-Deadline-Ms/);
  });

  it("JSON output uses snake_case names with defaults (balance_micros etc.)", async () => {
    next = () => Balance.fromPartial({ customerId: "cus_1", balanceMicros: 24_500 });
    const body = await json(await fetch(`${s.url}/v1/billing/balance`));
    assert.deepEqual(body, { customer_id: "cus_1", balance_micros: 24_500, balance_mils: 0, balance_cents: 0, balance_usd: 0, held_micros: 0 });
  });
});
