// grpc-js sends a registered framer's bytes as they are: real server and client over loopback, the
// framed method and an ordinary one side by side. If a grpc-js upgrade changes the private method this
// relies on, the first test fails here instead of raw responses silently costing a copy again.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { preframedSendCount, registerFramer } from "../../src/transport/grpc/preframed-send";

const FRAMED = "/test.PreFramed/Framed";
const PLAIN = "/test.PreFramed/Plain";

function framedMessage(payload: Buffer): Buffer {
  const out = Buffer.alloc(payload.byteLength + 5);
  out.writeUInt32BE(payload.byteLength, 1);
  payload.copy(out, 5);
  return out;
}

describe("pre-framed gRPC sends", () => {
  let server: grpc.Server;
  let client: grpc.Client;
  const serialized: string[] = [];

  before(async () => {
    server = new grpc.Server();
    const serialize = (path: string) => (value: { text: string }) => {
      serialized.push(path);
      return Buffer.from(value.text);
    };
    const echo = (call: grpc.ServerUnaryCall<Buffer, { text: string; framed?: Buffer }>, cb: grpc.sendUnaryData<{ text: string; framed?: Buffer }>) => {
      const text = `reply to ${call.request.toString()}`;
      cb(null, { text, framed: call.request.toString() === "pre" ? framedMessage(Buffer.from(`${text} (pre-framed)`)) : undefined });
    };
    server.register(FRAMED, echo, serialize(FRAMED), (b: Buffer) => b, "unary");
    server.register(PLAIN, echo, serialize(PLAIN), (b: Buffer) => b, "unary");
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  const call = (path: string, text: string) =>
    new Promise<string>((resolve, reject) =>
      client.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b.toString(), Buffer.from(text), (err, res) => (err ? reject(err) : resolve(res!))),
    );

  it("installs on this grpc-js version", () => {
    assert.equal(registerFramer(FRAMED, (v) => (v as { framed?: Buffer }).framed), true, "BaseServerInterceptingCall.serializeMessage changed shape: see src/transport/grpc/preframed-send.ts");
  });

  it("sends the framer's bytes without serializing; other messages and other methods take grpc-js's path", async () => {
    const before = preframedSendCount();
    serialized.length = 0;
    assert.equal(await call(FRAMED, "pre"), "reply to pre (pre-framed)");
    assert.equal(preframedSendCount(), before + 1);
    assert.deepEqual(serialized, [], "the serializer was not called for the pre-framed reply");

    assert.equal(await call(FRAMED, "plain"), "reply to plain", "a framer returning undefined falls back");
    assert.equal(await call(PLAIN, "pre"), "reply to pre", "methods without a framer are untouched");
    assert.equal(preframedSendCount(), before + 1);
    assert.deepEqual(serialized, [FRAMED, PLAIN]);
  });
});
