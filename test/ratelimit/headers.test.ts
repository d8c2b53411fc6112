import { strict as assert } from "node:assert";
import {
  RATELIMIT_HEADERS_DRAFT,
  rateLimitHeader,
  rateLimitHeaders,
  rateLimitPolicyHeader,
  retryAfterSeconds,
} from "../../src/billing/ratelimit";

describe(`RateLimit headers (${RATELIMIT_HEADERS_DRAFT})`, () => {
  it("RateLimit-Policy: burst as q, full-refill time as w (whole seconds, at least 1)", () => {
    assert.equal(rateLimitPolicyHeader("per-key", { ratePerS: 50, burst: 200 }), '"per-key";q=200;w=4');
    assert.equal(rateLimitPolicyHeader("per-key", { ratePerS: 3, burst: 10 }), '"per-key";q=10;w=4');
    assert.equal(rateLimitPolicyHeader("per-ip", { ratePerS: 50, burst: 10 }), '"per-ip";q=10;w=1');
  });

  it("RateLimit: remaining as r; t is time to full when allowed, Retry-After when denied", () => {
    assert.equal(rateLimitHeader("per-key", { allowed: true, remaining: 150, retryAfterMs: 0, resetMs: 1001 }), '"per-key";r=150;t=2');
    assert.equal(rateLimitHeader("per-key", { allowed: true, remaining: 200, retryAfterMs: 0, resetMs: 0 }), '"per-key";r=200;t=0');
    assert.equal(rateLimitHeader("per-key", { allowed: false, remaining: 0, retryAfterMs: 20, resetMs: 4000 }), '"per-key";r=0;t=1');
  });

  it("escapes the policy name as a structured-field string", () => {
    assert.equal(rateLimitPolicyHeader('a"b\\c', { ratePerS: 1, burst: 1 }), '"a\\"b\\\\c";q=1;w=1');
    assert.throws(() => rateLimitPolicyHeader("caf\u00e9", { ratePerS: 1, burst: 1 }));
  });

  it("Retry-After is whole seconds, rounded up, never below 1", () => {
    assert.equal(retryAfterSeconds(0), 1);
    assert.equal(retryAfterSeconds(20), 1);
    assert.equal(retryAfterSeconds(1000), 1);
    assert.equal(retryAfterSeconds(1001), 2);
    assert.equal(retryAfterSeconds(59_500), 60);
  });

  it("only a denial carries Retry-After", () => {
    const policy = { ratePerS: 50, burst: 200 };
    const allowed = rateLimitHeaders({ policy, policyName: "per-key", decision: { allowed: true, remaining: 1, retryAfterMs: 0, resetMs: 3980 } });
    assert.deepEqual(Object.keys(allowed).sort(), ["ratelimit", "ratelimit-policy"]);
    const denied = rateLimitHeaders({ policy, policyName: "per-key", decision: { allowed: false, remaining: 0, retryAfterMs: 1500, resetMs: 4000 } });
    assert.equal(denied["retry-after"], "2");
    assert.equal(denied.ratelimit, '"per-key";r=0;t=2');
  });
});
