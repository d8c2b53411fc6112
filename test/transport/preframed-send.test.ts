// grpc-js sends a PreFramed response's bytes as they are: real server and client over loopback, a
// method answering PreFramed and plain values side by side with an ordinary one. If a grpc-js upgrade
// changes the private method this relies on (src/transport/grpc/raw/README.md), the first test fails
// here instead of raw responses silently costing a copy again.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { PreFramed } from "../../src/transport/grpc/raw/preframed";
import { installPreframedSend, preframedSendCount } from "../../src/transport/grpc/raw/preframed-send";

const FRAMED = "/test.PreFramed/Framed";
const PLAIN = "/test.PreFramed/Plain";
const BIG = "/test.PreFramed/Big";
const BIG_BYTES = 48 * 1024 * 1024;
const bigByte = (i: number) => (i * 31 + (i >> 16)) & 0xff;
let bigSent: (framed: Buffer) => void = () => undefined;

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
    // Records every call; a PreFramed reaching it shows up as a recorded call (and as no text).
    const serialize = (path: string) => (value: { text: string } | PreFramed) => {
      serialized.push(path);
      return Buffer.from(value instanceof PreFramed ? "" : value.text);
    };
    // FRAMED answers "pre" with a PreFramed value and anything else with a plain message; PLAIN always plain.
    const echo = (preFrames: boolean) => (call: grpc.ServerUnaryCall<Buffer, { text: string } | PreFramed>, cb: grpc.sendUnaryData<{ text: string } | PreFramed>) => {
      const text = `reply to ${call.request.toString()}`;
      cb(null, preFrames && call.request.toString() === "pre" ? new PreFramed(framedMessage(Buffer.from(`${text} (pre-framed)`))) : { text });
    };
    server.register(FRAMED, echo(true), serialize(FRAMED), (b: Buffer) => b, "unary");
    server.register(PLAIN, echo(false), serialize(PLAIN), (b: Buffer) => b, "unary");
    const bigPayload = Buffer.allocUnsafe(BIG_BYTES);
    for (let i = 0; i < BIG_BYTES; i++) bigPayload[i] = bigByte(i);
    // Every reply is a PreFramed whose release tells bigSent (set in the test below); the serializer never runs.
    server.register(
      BIG,
      (_call: grpc.ServerUnaryCall<Buffer, PreFramed>, cb: grpc.sendUnaryData<PreFramed>) => {
        const framed = framedMessage(bigPayload);
        cb(null, new PreFramed(framed, () => bigSent(framed)));
      },
      () => assert.fail("the serializer ran for a pre-framed reply"),
      (b: Buffer) => b,
      "unary",
    );
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
    assert.equal(installPreframedSend(), true, "BaseServerInterceptingCall.serializeMessage changed shape: see src/transport/grpc/raw/README.md");
  });

  it("sends a PreFramed's bytes without serializing; plain messages, on this method and others, take grpc-js's path", async () => {
    const before = preframedSendCount();
    serialized.length = 0;
    assert.equal(await call(FRAMED, "pre"), "reply to pre (pre-framed)");
    assert.equal(preframedSendCount(), before + 1);
    assert.deepEqual(serialized, [], "the serializer was not called for the pre-framed reply");

    assert.equal(await call(FRAMED, "plain"), "reply to plain", "a plain reply of the same method is serialized");
    assert.equal(await call(PLAIN, "pre"), "reply to pre", "a method that never pre-frames is untouched");
    assert.equal(preframedSendCount(), before + 1);
    assert.deepEqual(serialized, [FRAMED, PLAIN]);
  });

  it("releases a PreFramed only once every byte has been written, and never for a stream that failed", async () => {
    const sent: Buffer[] = [];
    // The release scribbles over the buffer as a reuse would: had it come before the last byte left, the
    // client (64 KiB flow-control window, so most of the 48 MiB waits on its WINDOW_UPDATEs) would see it.
    bigSent = (framed) => {
      sent.push(framed);
      framed.fill(0xee);
    };
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
