// ServiceError.from keeps what was thrown as `cause` for the logs, and nothing a client is sent
// (message, details, the REST error body, a JSON dump of the error) carries it.
import assert from "node:assert/strict";
import { ServiceError } from "../../src/core/errors";
import { errorBody } from "../../src/transport/rest/errors";

describe("ServiceError.from", () => {
  it("turns an unknown error into INTERNAL 'internal error' with the original as its cause", () => {
    const original = new Error("write EPIPE /srv/dream/secret-path.sock");
    const err = ServiceError.from(original);
    assert.equal(err.reason, "INTERNAL");
    assert.equal(err.message, "internal error");
    assert.equal(err.cause, original);
    // Non-enumerable, as ES2022 `new Error(msg, { cause })` makes it: spreads and JSON leave it out.
    assert.equal(Object.getOwnPropertyDescriptor(err, "cause")?.enumerable, false);
  });

  it("keeps a thrown non-Error value as the cause too", () => {
    assert.equal(ServiceError.from("boom").cause, "boom");
  });

  it("never shows the cause to a client", () => {
    const err = ServiceError.from(new Error("write EPIPE /srv/dream/secret-path.sock"));
    for (const visible of [err.message, JSON.stringify(err.details), JSON.stringify(err), JSON.stringify(errorBody(err, "req-1"))]) {
      assert.ok(!visible.includes("EPIPE") && !visible.includes("secret-path"), `cause leaked into ${visible}`);
    }
  });

  it("returns a ServiceError unchanged", () => {
    const err = new ServiceError("CANCELLED", "the client cancelled the request");
    assert.equal(ServiceError.from(err), err);
    assert.equal(err.cause, undefined);
  });
});
