// Errors stay small whatever they echo (issue 10, item 3): the echo helper, the ServiceError
// constructor's bounds, and the hard caps on the gRPC trailers and the REST error body.
import { strict as assert } from "node:assert";
import { clipBytes, echo, invalidArgument, quoted, ServiceError } from "../../src/core/errors";
import { limits } from "../../src/core/limits";
import { validateActions } from "../../src/service/validate";
import type { CatalogEntry } from "../../src/config/catalog";
import { Status } from "../../src/gen/google/rpc/status";
import { DETAILS_TRUNCATED_KEY as REST_TRUNCATED, errorBody } from "../../src/transport/rest/errors";
import { DETAILS_TRUNCATED_KEY as GRPC_TRUNCATED, toGrpcStatus } from "../../src/transport/grpc/status";
import { errorInfoOf } from "../../src/wire/status-details";

describe("errors: bounded echo of user input", () => {
  it("echo keeps short values and cuts long ones to errorEchoCharsMax with an ellipsis and the original length", () => {
    assert.equal(echo("dream-reference-tiny"), "dream-reference-tiny");
    const long = echo("x".repeat(30_000));
    assert.equal(long, `${"x".repeat(limits.errorEchoCharsMax)}…(30000 chars)`);
    assert.equal(quoted("a\"b"), '"a\\"b"');
  });

  it("echo never splits a surrogate pair", () => {
    const cut = echo("a".repeat(limits.errorEchoCharsMax - 1) + "😀".repeat(10));
    assert.ok(!cut.includes("\uFFFD"));
    assert.equal(Buffer.from(cut, "utf8").toString("utf8"), cut, "the cut is valid UTF-16 (round-trips through UTF-8)");
    assert.ok(cut.startsWith("a".repeat(limits.errorEchoCharsMax - 1) + "…"));
  });

  it("clipBytes bounds UTF-8 bytes, marks the cut and leaves no partial character", () => {
    const clipped = clipBytes("é".repeat(5_000), 1024);
    assert.ok(Buffer.byteLength(clipped) <= 1024, `${Buffer.byteLength(clipped)} bytes`);
    assert.ok(clipped.endsWith("…(10000 bytes)"));
    assert.ok(!clipped.includes("\uFFFD"));
    assert.equal(clipBytes("short", 1024), "short");
  });

  it("a ServiceError bounds its message and every string detail, whatever the call site passed", () => {
    const e = new ServiceError("NOT_FOUND", `no request ${"r".repeat(100_000)}`, { request_id: "r".repeat(100_000), list: ["q".repeat(5_000)], n: 7 });
    assert.ok(Buffer.byteLength(e.message) <= limits.errorMessageBytesMax);
    assert.ok((e.details.request_id as string).length < 2 * limits.errorEchoCharsMax);
    assert.ok((e.details.list as string[])[0]!.length < 2 * limits.errorEchoCharsMax);
    assert.equal(e.details.n, 7);
    const f = invalidArgument("k".repeat(50_000), "no such field");
    assert.ok(f.message.length < 2 * limits.errorEchoCharsMax + 20, `message of ${f.message.length} chars`);
    assert.ok((f.details.field as string).startsWith("k".repeat(limits.errorEchoCharsMax)));
  });

  it("gRPC: grpc-message and grpc-status-details-bin stay within their limits; details that do not fit are dropped and flagged", () => {
    const details: Record<string, string> = {};
    for (let i = 0; i < 200; i++) details[`detail_${i}`] = "v".repeat(5_000);
    const status = toGrpcStatus(new ServiceError("INVALID_ARGUMENT", "m".repeat(50_000), { field: "actions", ...details }), "req-1");
    assert.ok(Buffer.byteLength(status.details!) <= limits.errorMessageBytesMax);
    const bin = status.metadata!.get("grpc-status-details-bin")[0] as Buffer;
    assert.ok(bin.length <= limits.errorDetailsBytesMax, `${bin.length} bytes`);
    const info = errorInfoOf(status.metadata)!;
    assert.equal(info.reason, "INVALID_ARGUMENT");
    assert.equal(info.metadata.request_id, "req-1");
    assert.equal(info.metadata.field, "actions");
    assert.equal(info.metadata[GRPC_TRUNCATED], "true");
    assert.equal(Status.decode(bin).message, status.details);
  });

  it("gRPC: an error's own headers become trailers, lower-case, never replacing grpc-* or the keys toGrpcStatus sets", () => {
    const err = new ServiceError("RATE_LIMITED", "slow down", {}, 2).withHeaders({
      RateLimit: '"key";r=0;t=2',
      "ratelimit-policy": '"key";q=10;w=1',
      "grpc-status": "0",
      "grpc-message": "all fine",
      "grpc-status-details-bin": "AAAA",
      "x-dreamengine-request-id": "spoofed",
      "retry-after": "0",
      "x-trace-bin": "binary keys carry bytes, not text",
      "content-type": "text/html",
      "x-not ascii": "bad key",
      "x-bad-value": "tab\there",
    });
    const status = toGrpcStatus(err, "req-3");
    const md = status.metadata!;
    assert.deepEqual(md.get("ratelimit"), ['"key";r=0;t=2']);
    assert.deepEqual(md.get("ratelimit-policy"), ['"key";q=10;w=1']);
    assert.deepEqual(md.get("x-dreamengine-request-id"), ["req-3"]);
    assert.deepEqual(md.get("retry-after"), ["2"]);
    assert.equal(status.code, 8, "RESOURCE_EXHAUSTED");
    assert.equal(status.details, "slow down");
    for (const key of ["grpc-status", "grpc-message", "x-trace-bin", "content-type", "x-bad-value"]) assert.deepEqual(md.get(key), [], key);
    assert.equal(errorInfoOf(md)!.reason, "RATE_LIMITED", "the details trailer is ours, not the error's");
  });

  it("gRPC: the whole trailer block stays under the 8 KiB a grpc-js client accepts, with every limit filled", () => {
    const details: Record<string, string> = {};
    for (let i = 0; i < 200; i++) details[`detail_${i}`] = "v".repeat(5_000);
    const headers: Record<string, string> = {};
    for (let i = 0; i < 200; i++) headers[`x-h${i}`] = "h".repeat(200);
    const status = toGrpcStatus(new ServiceError("INVALID_ARGUMENT", "%".repeat(50_000), details, 5).withHeaders(headers), "r".repeat(limits.requestIdBytesMax));
    // HTTP/2 counts name + value + 32 per entry; grpc-message goes out percent-encoded (3x) and -bin base64.
    let size = "grpc-status".length + 1 + 32 + "grpc-message".length + 3 * Buffer.byteLength(status.details!) + 32;
    for (const [k, v] of Object.entries(status.metadata!.getMap())) size += k.length + (Buffer.isBuffer(v) ? Math.ceil(v.length / 3) * 4 : Buffer.byteLength(v)) + 32;
    assert.ok(size <= 8 * 1024, `${size} bytes of trailers`);
    assert.ok(Object.keys(status.metadata!.getMap()).some((k) => k.startsWith("x-h")), "the headers that fit are sent");
  });

  it("REST: the error body keeps the fixed keys, stays within message + details limits, and flags dropped details", () => {
    const details: Record<string, string> = {};
    for (let i = 0; i < 200; i++) details[`detail_${i}`] = "v".repeat(5_000);
    const body = errorBody(new ServiceError("INVALID_ARGUMENT", "m".repeat(50_000), { field: "actions", ...details }), "req-2");
    const size = Buffer.byteLength(JSON.stringify(body));
    assert.ok(size <= limits.errorMessageBytesMax + limits.errorDetailsBytesMax + 256, `${size} bytes`);
    assert.equal(body.error.reason, "INVALID_ARGUMENT");
    assert.equal(body.error.request_id, "req-2");
    assert.equal(body.error.field, "actions");
    assert.equal(body.error[REST_TRUNCATED], true);
  });

  it("a gRPC Actions.shape with a million dims is echoed as its first few and its length", () => {
    const shape = new Array<number>(1_000_000).fill(7);
    const err = (() => {
      try {
        validateActions("actions", { shape, data: new Uint8Array(0) }, { actionDim: 384 } as CatalogEntry);
      } catch (e) {
        return e as ServiceError;
      }
      throw new Error("accepted");
    })();
    assert.equal(err.reason, "INVALID_ARGUMENT");
    assert.ok(err.message.length < 200, err.message);
    assert.match(err.message, /1000000 dims/);
  });
});
