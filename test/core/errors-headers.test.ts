// ServiceError.headers (issue 11): response headers that belong with one error travel on the error
// itself, set by withHeaders, instead of a side table keyed by the error object.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";
import { errorBody } from "../../src/transport/rest/errors";

class TaggedError extends ServiceError {
  readonly tag = "tagged";
}

describe("ServiceError.withHeaders", () => {
  it("returns a new error with the headers, lower-cased, and leaves the original as it was", () => {
    const original = new ServiceError("RATE_LIMITED", "slow down", { bucket: "key_1" }, 2);
    const withHeaders = original.withHeaders({ RateLimit: '"key";r=0;t=2', "RateLimit-Policy": '"key";q=10;w=1' });
    assert.notEqual(withHeaders, original);
    assert.deepEqual(original.headers, {});
    assert.deepEqual(withHeaders.headers, { ratelimit: '"key";r=0;t=2', "ratelimit-policy": '"key";q=10;w=1' });
    assert.ok(Object.isFrozen(withHeaders.headers));
    for (const key of ["reason", "code", "http", "message", "retryAfterS", "stack"] as const) assert.equal(withHeaders[key], original[key], key);
    assert.deepEqual(withHeaders.details, original.details);
  });

  it("adds to the headers it had; a later value of a name replaces the earlier one", () => {
    const err = new ServiceError("UNAVAILABLE", "busy").withHeaders({ a: "1", b: "2" }).withHeaders({ B: "3", c: "4" });
    assert.deepEqual(err.headers, { a: "1", b: "3", c: "4" });
  });

  it("keeps the class and the cause (ServiceError.from), and does not bound an already bounded message twice", () => {
    const cause = new Error("ECONNREFUSED 10.0.0.7:6379");
    const internal = ServiceError.from(cause).withHeaders({ "x-hint": "later" });
    assert.equal(internal.cause, cause);
    assert.equal(Object.getOwnPropertyDescriptor(internal, "cause")?.enumerable, false, "still hidden from spreads and JSON");
    const tagged = new TaggedError("NOT_FOUND", "m".repeat(50_000), { slug: "s".repeat(50_000) }).withHeaders({ x: "1" });
    assert.ok(tagged instanceof TaggedError);
    assert.equal(tagged.tag, "tagged");
    assert.ok(tagged.message.endsWith("…(50000 bytes)"), "the constructor's clip, not a clip of the clip");
    assert.ok((tagged.details.slug as string).endsWith("…(50000 chars)"));
  });

  it("stays within errorHeadersBytesMax (name + value + 32 per entry), leaving out entries that do not fit", () => {
    const many: Record<string, string> = {};
    for (let i = 0; i < 100; i++) many[`x-h${i}`] = "v".repeat(100);
    const err = new ServiceError("INTERNAL", "m").withHeaders(many);
    const size = Object.entries(err.headers).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 32, 0);
    assert.ok(size <= limits.errorHeadersBytesMax, `${size} bytes`);
    assert.ok(Object.keys(err.headers).length > 0, "what fits is kept");
    assert.ok(Object.keys(err.headers).length < 100);
    const huge = new ServiceError("INTERNAL", "m").withHeaders({ big: "v".repeat(100_000), small: "ok" });
    assert.deepEqual(huge.headers, { small: "ok" });
  });

  it("a header named __proto__ stays a plain entry", () => {
    const err = new ServiceError("INTERNAL", "m").withHeaders(JSON.parse('{"__proto__": "x"}') as Record<string, string>);
    assert.equal(Object.getPrototypeOf(err.headers), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(err.headers, "__proto__")?.value, "x");
  });

  it("headers never appear in the REST error body", () => {
    const body = errorBody(new ServiceError("RATE_LIMITED", "slow down").withHeaders({ ratelimit: "r=0" }), "req-1");
    assert.equal(JSON.stringify(body).includes("r=0"), false);
  });
});
