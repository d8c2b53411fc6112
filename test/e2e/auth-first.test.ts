// No work before authentication, end to end (startHarness: the whole server, tiny model): a caller
// without a valid key is refused on its headers / metadata alone — a 60 MB REST upload gets its 401
// before the client has sent it, a large gRPC message is never deserialized — and a loop of bad keys
// from one address is answered 429 / RESOURCE_EXHAUSTED once that address's failure bucket is empty, while
// keys that authenticated recently and the keyless endpoints keep working from the same address.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { limits } from "../../src/core/limits";
import { ModelsService, PredictRequest } from "../../src/gen/dream/v1/dream";
import { errorInfoOf } from "../../src/wire/status-details";
import { bearer, startHarness, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const PREDICT = ModelsService.predict.path;

/** A well-formed key (dre_ + 43 base32 chars) that the server never issued. */
function unknownKey(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  return "dre_" + Array.from(randomBytes(43), (b) => alphabet[b & 31]).join("");
}

/** A unary call with raw bytes in and out (grpc-js client, passthrough serializers). */
function rawUnary(client: grpc.Client, path: string, bytes: Buffer, metadata: grpc.Metadata): Promise<grpc.ServiceError | Buffer> {
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b, bytes, metadata, { deadline: Date.now() + 60_000 }, (err, value) => resolve(err ?? value!));
  });
}


describe("e2e: authentication and rate limiting before any body is read", function () {
  this.timeout(120_000);
  let h: Harness;
  let client: grpc.Client;
  // Counts the gRPC server's Predict request decodes: the server takes its deserializer from this
  // definition when it starts, so the count is exactly how many Predict messages it deserialized.
  const original = ModelsService.predict.requestDeserialize;
  let decodes = 0;

  before(async () => {
    (ModelsService.predict as { requestDeserialize: (b: Buffer) => PredictRequest }).requestDeserialize = (b: Buffer) => {
      decodes++;
      return original(b);
    };
    h = await startHarness();
    client = new grpc.Client(h.grpcAddress, grpc.credentials.createInsecure());
  });
  after(async () => {
    (ModelsService.predict as { requestDeserialize: (b: Buffer) => PredictRequest }).requestDeserialize = original;
    client?.close();
    await h?.stop();
  });

  it("REST: an unauthenticated 60 MB multipart predict gets 401 before the client has sent it", async () => {
    const total = 60 * 1024 * 1024;
    const boundary = "b0undary";
    const url = new URL(h.httpBase);
    const socket = net.connect(Number(url.port), url.hostname);
    socket.on("error", () => undefined); // the server may cut the upload off: that is the point
    await new Promise((r) => socket.once("connect", r));
    let text = "";
    const answered = new Promise<void>((resolve) => {
      socket.on("data", (c: Buffer) => {
        text += c.toString("latin1");
        if (text.includes("}}")) resolve();
      });
      socket.on("close", () => resolve());
    });
    let done = false;
    void answered.then(() => (done = true));
    socket.write(`POST /v1/models/${TINY}/predict HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${unknownKey()}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${total}\r\n\r\n`);
    socket.write(`--${boundary}\r\nContent-Disposition: form-data; name="actions"; filename="a.npy"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    let sent = 0;
    while (!done && !socket.destroyed && sent < total - chunk.length) {
      sent += chunk.length;
      if (!socket.write(chunk)) await Promise.race([new Promise((r) => socket.once("drain", r)), answered]);
    }
    await answered;
    socket.destroy();
    assert.match(text, /^HTTP\/1\.1 401 /);
    assert.match(text, /"reason":"UNAUTHENTICATED"/);
    assert.ok(sent < total / 2, `answered after the client sent ${sent} of ${total} bytes`);
  });

  it("gRPC: an unauthenticated 40 MB Predict is refused UNAUTHENTICATED without its message being deserialized", async () => {
    const big = Buffer.from(PredictRequest.encode(PredictRequest.fromPartial({ model: TINY, actions: { shape: [240, 384], data: Buffer.alloc(40 * 1024 * 1024) } })).finish());
    const before = decodes;
    const err = await rawUnary(client, PREDICT, big, bearer(unknownKey()));
    assert.ok(!Buffer.isBuffer(err));
    assert.equal(err.code, grpc.status.UNAUTHENTICATED, err.details);
    const noKey = await rawUnary(client, PREDICT, big, new grpc.Metadata());
    assert.ok(!Buffer.isBuffer(noKey));
    assert.equal(noKey.code, grpc.status.UNAUTHENTICATED, noKey.details);
    assert.equal(decodes, before, "no Predict message was deserialized");
    // The counter does count: an authenticated call's message is deserialized (and answered).
    const ok = await rawUnary(client, PREDICT, Buffer.from(PredictRequest.encode(PredictRequest.fromPartial({ model: TINY })).finish()), bearer(h.apiKey));
    assert.ok(!Buffer.isBuffer(ok));
    assert.equal(ok.code, grpc.status.INVALID_ARGUMENT, ok.details); // it has no actions: answered past the guard
    assert.equal(decodes, before + 1);
  });

  it("gRPC: a malformed x-dreamengine-deadline-ms is INVALID_ARGUMENT naming the header, as on REST, before the guard and the message", async () => {
    const before = decodes;
    const md = bearer(h.apiKey);
    md.set("x-dreamengine-deadline-ms", "soon");
    const err = await rawUnary(client, PREDICT, Buffer.from(PredictRequest.encode(PredictRequest.fromPartial({ model: TINY })).finish()), md);
    assert.ok(!Buffer.isBuffer(err));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, err.details);
    assert.equal(errorInfoOf(err.metadata)?.metadata.field, "X-DreamEngine-Deadline-Ms");
    assert.equal(decodes, before, "the message was not deserialized");
    const rest = await fetch(`${h.httpBase}/v1/billing/balance`, { headers: { authorization: `Bearer ${h.apiKey}`, "x-dreamengine-deadline-ms": "soon" } });
    const body = (await rest.json()) as { error: { field: string } };
    assert.equal(rest.status, 400);
    assert.equal(body.error.field, "X-DreamEngine-Deadline-Ms");
  });

  // Last: these empty 127.0.0.1's failure bucket, which every test above shares.
  it("REST: a loop of unknown keys from one address is answered 429 once its failure bucket is empty", async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 400 && !statuses.includes(429); i++) {
      const res = await fetch(`${h.httpBase}/v1/billing/balance`, { headers: { authorization: `Bearer ${unknownKey()}` } });
      await res.arrayBuffer();
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get("retry-after");
    }
    assert.equal(statuses[0], 401);
    assert.ok(statuses.includes(429), `statuses seen: ${[...new Set(statuses)].join(", ")}`);
    // Checked on the 429 itself: on a loaded machine a token may refill (20/s) before one more call.
    assert.ok(Number(retryAfter) >= 1, "429 carries Retry-After");
  });

  it("gRPC: unknown keys from that address are answered RESOURCE_EXHAUSTED", async () => {
    const codes: number[] = [];
    const small = Buffer.from(PredictRequest.encode(PredictRequest.fromPartial({ model: TINY })).finish());
    for (let i = 0; i < 400 && !codes.includes(grpc.status.RESOURCE_EXHAUSTED); i++) {
      const err = await rawUnary(client, PREDICT, small, bearer(unknownKey()));
      assert.ok(!Buffer.isBuffer(err));
      codes.push(err.code);
    }
    assert.ok(codes.includes(grpc.status.RESOURCE_EXHAUSTED), `codes seen: ${[...new Set(codes)].join(", ")}`);
  });

  it("after the flood, a key that authenticated recently and the keyless endpoints still work from that address", async () => {
    // The bucket refills at limits.authFailureRatePerS, so on a loaded machine the time since the flood
    // may have bought a few failures back; the flood's address is refused again once they are spent,
    // well before a full burst (limits.authFailureBurst) of them.
    const statuses: number[] = [];
    for (let i = 0; i < limits.authFailureBurst && !statuses.includes(429); i++) {
      const unknown = await fetch(`${h.httpBase}/v1/billing/balance`, { headers: { authorization: `Bearer ${unknownKey()}` } });
      await unknown.arrayBuffer();
      statuses.push(unknown.status);
    }
    assert.ok(statuses.includes(429), `the flood is still being refused; statuses seen: ${[...new Set(statuses)].join(", ")}`);
    assert.ok(statuses.length < limits.authFailureBurst / 2, `${statuses.length} unknown keys passed to the lookup after the flood: the bucket was not near empty`);
    const balance = await fetch(`${h.httpBase}/v1/billing/balance`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    await balance.arrayBuffer();
    assert.equal(balance.status, 200);
    const models = await fetch(`${h.httpBase}/v1/models`);
    await models.arrayBuffer();
    assert.equal(models.status, 200, "failed authentications do not spend the keyless endpoints' per-IP bucket");
  });
});
