// The in-flight registry: request ids are the customer's own, so they are keyed by (customer, id).
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import type { ModelEngine } from "../../src/service/ports";
import { InflightRequests } from "../../src/service/registry";

const engine = {} as ModelEngine;

describe("service/registry: in-flight requests", () => {
  it("two customers may run the same request id at once; each finds and removes only its own", () => {
    const inflight = new InflightRequests();
    const a = inflight.add("job-1", { customerId: "cus_a", engine });
    const b = inflight.add("job-1", { customerId: "cus_b", engine });
    assert.notEqual(a.engineRequestId, b.engineRequestId, "the engine sees distinct ids");
    assert.equal(inflight.size, 2);
    assert.equal(inflight.find("job-1", "cus_a"), a);
    assert.equal(inflight.find("job-1", "cus_b"), b);
    inflight.remove("job-1", "cus_a");
    assert.equal(inflight.find("job-1", "cus_a"), undefined);
    assert.equal(inflight.find("job-1", "cus_b"), b);
  });

  it("a customer reusing its own id while it runs still gets 'already in flight'", () => {
    const inflight = new InflightRequests();
    inflight.add("job-2", { customerId: "cus_a", engine });
    assert.throws(
      () => inflight.add("job-2", { customerId: "cus_a", engine }),
      (err: unknown) => err instanceof ServiceError && err.reason === "INVALID_ARGUMENT" && /already in flight/.test(err.message),
    );
    assert.equal(inflight.find("job-2", "cus_c"), undefined, "another customer cannot see it");
  });
});
