// grpc-js sends a registered framer's bytes as they are: real server and client over loopback, the
// framed method and an ordinary one side by side. If a grpc-js upgrade changes the private method this
// relies on, the first test fails here instead of raw responses silently costing a copy again.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { preframedSendCount, registerFramer } from "../../src/transport/grpc/preframed-send";

const FRAMED = "/test.PreFramed/Framed";
const PLAIN = "/test.PreFramed/Plain";
const BIG = "/test.PreFramed/Big";
const BIG_BYTES = 48 * 1024 * 1024;
const bigByte = (i: number) => (i * 31 + (i >> 16)) & 0xff;

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
    const bigPayload = Buffer.allocUnsafe(BIG_BYTES);
    for (let i = 0; i < BIG_BYTES; i++) bigPayload[i] = bigByte(i);
    // Its framer (registered in the test below) sends every reply as it is; the serializer never runs.
    server.register(BIG, (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, framedMessage(bigPayload)), (b: Buffer) => b, (b: Buffer) => b, "unary");
    const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": -1 });
  });

  after(() => {
    client.close();
    server.forceShutdown();
  });

  const call = (path: string, text: string, via = client) =>
    new Promise<string>((resolve, reject) =>
      via.makeUnaryRequest(path, (b: Buffer) => b, (b: Buffer) => b.toString(), Buffer.from(text), (err, res) => (err ? reject(err) : resolve(res!))),
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

  it("tells onSent only once every byte has been written, and never for a stream that failed", async () => {
    const sent: Buffer[] = [];
    // onSent scribbles over the buffer as a reuse would: had it come before the last byte left, the
    // client (64 KiB flow-control window, so most of the 48 MiB waits on its WINDOW_UPDATEs) would see it.
    registerFramer(BIG, (v) => v as Buffer, (framed) => {
      sent.push(framed);
      framed.fill(0xee);
    });
    const received = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(BIG, (b: Buffer) => b, (b: Buffer) => b, Buffer.from("big"), (err, res) => (err ? reject(err) : resolve(res!))),
    );
    assert.equal(received.byteLength, BIG_BYTES);
    for (let i = 0; i < BIG_BYTES; i += 4093) assert.equal(received[i], bigByte(i), `byte ${i}`);
    assert.equal(sent.length, 1);
    // A client that refuses the message resets the stream mid-send: the buffer is not reported sent.
    const refusing = new grpc.Client(client.getChannel().getTarget(), grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": 1024 });
    try {
      await assert.rejects(call(BIG, "big", refusing), /larger than max/);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(sent.length, 1);
    } finally {
      refusing.close();
    }
  });
});
