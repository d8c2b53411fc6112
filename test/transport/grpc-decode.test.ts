// Requests the generated decoder refuses are the caller's error (startHarness: the whole server, tiny
// model): malformed protobuf bytes and a uint64 beyond 2^53−1 (seed = 2^64−1) get INVALID_ARGUMENT —
// not INTERNAL "Error deserializing request" — naming the field where there is one, over gRPC and REST
// alike; the connection keeps serving a healthy call afterwards.
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { GetModelRequest, ModelSpec, ModelsService, PredictBatchRequest, PredictRequest } from "../../src/gen/dream/v1/dream";
import { errorInfoOf } from "../../src/wire/status-details";
import { startHarness, type Harness } from "../e2e/harness";

const TINY = "dream-reference-tiny";

function rawUnary(client: grpc.Client, path: string, bytes: Buffer, metadata: grpc.Metadata): Promise<grpc.ServiceError | Buffer> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, metadata, { deadline: Date.now() + 30_000 }, (err, value) => resolve(err ?? value!));
  });
}

function rawStream(client: grpc.Client, path: string, bytes: Buffer, metadata: grpc.Metadata): Promise<grpc.ServiceError | undefined> {
  return new Promise((resolve) => {
    const call = client.makeServerStreamRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, metadata, { deadline: Date.now() + 30_000 });
    call.on("data", () => undefined);
    call.on("error", (err: grpc.ServiceError) => resolve(err));
    call.on("end", () => resolve(undefined));
  });
}

/** `base` plus a second SamplingParams (field 4, merged by protobuf) whose seed (field 3) is 2^64−1. */
function withHugeSeed(base: Uint8Array): Buffer {
  const seed = [0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
  return Buffer.concat([base, Buffer.from([0x22, seed.length, ...seed])]);
}

const expectError = (got: grpc.ServiceError | Buffer | undefined): grpc.ServiceError => {
  assert.ok(got !== undefined && !Buffer.isBuffer(got), "the call failed");
  return got;
};

describe("gRPC: undecodable requests are INVALID_ARGUMENT", function () {
  this.timeout(120_000);
  let h: Harness;
  let client: grpc.Client;
  let auth: grpc.Metadata;

  before(async () => {
    h = await startHarness();
    client = new grpc.Client(h.grpcAddress, grpc.credentials.createInsecure());
    auth = new grpc.Metadata();
    auth.set("authorization", `Bearer ${h.apiKey}`);
  });
  after(async () => {
    client?.close();
    await h?.stop();
  });

  const canary = async (): Promise<void> => {
    const got = await rawUnary(client, ModelsService.getModel.path, Buffer.from(GetModelRequest.encode({ slug: TINY }).finish()), auth);
    assert.ok(Buffer.isBuffer(got), `the canary failed: ${(got as grpc.ServiceError).details}`);
    assert.equal(ModelSpec.decode(got).slug, TINY);
  };

  it("malformed protobuf bytes get INVALID_ARGUMENT with a clear message, and the same channel keeps serving", async () => {
    const malformed = [
      Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), // field 1 claims 4 GiB of bytes
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // an overlong varint key
      Buffer.from([0x0f]), // wire type 7 does not exist
    ];
    for (const bytes of malformed) {
      for (const path of [ModelsService.predict.path, ModelsService.getModel.path, "/grpc.health.v1.Health/Check"]) {
        const err = expectError(await rawUnary(client, path, bytes, auth));
        assert.equal(err.code, grpc.status.INVALID_ARGUMENT, `${path} ${bytes.toString("hex")}: ${err.details}`);
        assert.match(err.details, /not a valid (dream\.v1|grpc\.health\.v1)\.\w+ protobuf message/);
        assert.equal(errorInfoOf(err.metadata)?.reason, "INVALID_ARGUMENT");
      }
      const stream = expectError(await rawStream(client, ModelsService.streamPredict.path, bytes, auth));
      assert.equal(stream.code, grpc.status.INVALID_ARGUMENT, stream.details);
      await canary();
    }
  });

  it("seed = 2^64−1 gets INVALID_ARGUMENT naming params.seed over gRPC (unary and stream)", async () => {
    const single = withHugeSeed(PredictRequest.encode(PredictRequest.fromPartial({ model: TINY })).finish());
    const batch = withHugeSeed(PredictBatchRequest.encode(PredictBatchRequest.fromPartial({ model: TINY })).finish());
    const answers = [
      expectError(await rawUnary(client, ModelsService.predict.path, single, auth)),
      expectError(await rawUnary(client, ModelsService.predictBatch.path, batch, auth)),
      expectError(await rawStream(client, ModelsService.streamPredict.path, batch, auth)),
    ];
    for (const err of answers) {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
      assert.match(err.details, /^params\.seed: 18446744073709551615 is above Number\.MAX_SAFE_INTEGER/);
      const info = errorInfoOf(err.metadata);
      assert.equal(info?.reason, "INVALID_ARGUMENT");
      assert.equal(info?.metadata["field"], "params.seed");
    }
    await canary();
  });

  it("REST names the same field for the same value", async () => {
    const res = await fetch(`${h.httpBase}/v1/models/${TINY}/predict`, {
      method: "POST",
      headers: { authorization: `Bearer ${h.apiKey}`, "content-type": "application/json" },
      body: JSON.stringify({ params: { seed: "18446744073709551615" } }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { reason: string; field: string; message: string } };
    assert.equal(body.error.reason, "INVALID_ARGUMENT");
    assert.equal(body.error.field, "params.seed");
  });
});
