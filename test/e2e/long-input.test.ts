// Long user input in errors (issue 10, item 3): a 30,000-character slug or a 100,000-character model
// name once made the error's trailers too large to send, so the call was never answered and every
// other call on the same HTTP/2 connection hung with it. Each must now be answered promptly with a
// small error, and a healthy call on the SAME channel (one client, one connection) keeps succeeding.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { limits } from "../../src/core/limits";
import { GetModelRequest, PredictRequest } from "../../src/gen/dream/v1/dream";
import { errorInfoOf } from "../../src/wire/status-details";
import { bearer, startHarness, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const ANSWER_MS = 3_000;
const pass = (b: Buffer): Buffer => b;

interface Outcome {
  code: number;
  ms: number;
  details: string;
  metadata?: grpc.Metadata;
}

function unary(client: grpc.Client, path: string, bytes: Uint8Array, key?: string): Promise<Outcome> {
  const md = key === undefined ? new grpc.Metadata() : bearer(key);
  const started = Date.now();
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, pass, pass, Buffer.from(bytes), md, { deadline: Date.now() + ANSWER_MS }, (err) => {
      resolve({ code: err ? err.code : 0, ms: Date.now() - started, details: err?.details ?? "", metadata: err?.metadata });
    });
  });
}

describe("e2e: long slugs and model names are answered with small errors and leave the connection healthy", function () {
  this.timeout(60_000);
  let h: Harness;
  let client: grpc.Client;
  const canary = () => unary(client, "/dream.v1.Models/GetModel", GetModelRequest.encode({ slug: TINY }).finish());

  before(async () => {
    h = await startHarness();
    client = new grpc.Client(h.grpcAddress, grpc.credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await h?.stop();
  });

  function assertSmall(o: Outcome): void {
    assert.ok(Buffer.byteLength(o.details) <= limits.errorMessageBytesMax, `grpc-message of ${Buffer.byteLength(o.details)} bytes`);
    const bin = o.metadata?.get("grpc-status-details-bin")[0];
    assert.ok(Buffer.isBuffer(bin) && bin.length <= limits.errorDetailsBytesMax, `grpc-status-details-bin of ${(bin as Buffer | undefined)?.length} bytes`);
  }

  it("gRPC GetModel with a 30,000-character slug (no key): prompt NOT_FOUND, the echo bounded, the canary on the same channel still answered", async () => {
    assert.equal((await canary()).code, grpc.status.OK);
    const slug = "a".repeat(30_000);
    const o = await unary(client, "/dream.v1.Models/GetModel", GetModelRequest.encode({ slug }).finish());
    assert.equal(o.code, grpc.status.NOT_FOUND, `code ${o.code}: ${o.details.slice(0, 200)}`);
    assert.ok(o.ms < ANSWER_MS, `answered after ${o.ms} ms`);
    assertSmall(o);
    assert.match(o.details, /\(30000 chars\)/);
    const info = errorInfoOf(o.metadata)!;
    assert.equal(info.reason, "MODEL_NOT_FOUND");
    assert.ok(info.metadata.model!.startsWith("a".repeat(limits.errorEchoCharsMax)) && info.metadata.model!.length < 2 * limits.errorEchoCharsMax, `model echoed as ${info.metadata.model!.length} chars`);
    for (let i = 0; i < 3; i++) assert.equal((await canary()).code, grpc.status.OK, "canary after the long slug");
  });

  it("gRPC Predict with a 100,000-character model name (with and without a key): prompt error, the canary on the same channel still answered", async () => {
    const model = "m".repeat(100_000);
    const bytes = PredictRequest.encode(PredictRequest.fromPartial({ model })).finish();
    const authed = await unary(client, "/dream.v1.Models/Predict", bytes, h.apiKey);
    assert.ok([grpc.status.NOT_FOUND, grpc.status.INVALID_ARGUMENT].includes(authed.code), `code ${authed.code}: ${authed.details.slice(0, 200)}`);
    assert.ok(authed.ms < ANSWER_MS, `answered after ${authed.ms} ms`);
    assertSmall(authed);
    assert.equal((await canary()).code, grpc.status.OK, "canary after the authenticated long model name");

    const anonymous = await unary(client, "/dream.v1.Models/Predict", bytes);
    assert.notEqual(anonymous.code, grpc.status.OK);
    assert.notEqual(anonymous.code, grpc.status.DEADLINE_EXCEEDED, "never answered");
    assertSmall(anonymous);
    assert.equal((await canary()).code, grpc.status.OK, "canary after the unauthenticated long model name");
  });

  it("REST GET /v1/models/<12,000 characters>: 404 with a body under 2 KB that still shows the slug's start and length", async () => {
    const res = await fetch(`${h.httpBase}/v1/models/${"s".repeat(12_000)}`);
    const body = Buffer.from(await res.arrayBuffer());
    assert.equal(res.status, 404);
    assert.ok(body.length < 2048, `error body of ${body.length} bytes`);
    const error = (JSON.parse(body.toString("utf8")) as { error: { reason: string; message: string; model: string } }).error;
    assert.equal(error.reason, "MODEL_NOT_FOUND");
    assert.ok(error.model.startsWith("s".repeat(limits.errorEchoCharsMax)));
    assert.match(error.message, /\(12000 chars\)/);
  });
});
