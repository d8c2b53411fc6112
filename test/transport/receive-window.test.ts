// The gRPC server's raised HTTP/2 receive window (src/transport/grpc/receive-window.ts), over a real
// connection: what a patched server advertises per stream (its SETTINGS frame) and per connection (its
// WINDOW_UPDATE on stream 0), read by a plain node:http2 client; an unpatched server still advertising
// 65,535 bytes; a request larger than the default window going through; and the refusals that leave a
// grpc-js of another shape untouched. If a grpc-js upgrade moves the internals it relies on, the first
// test fails here instead of uploads silently slowing down again.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { ConfigError, loadConfig } from "../../src/config/config";
import { HTTP2_DEFAULT_WINDOW_BYTES, installReceiveWindow } from "../../src/transport/grpc/receive-window";

const ECHO = "/test.Window/Echo";
const WINDOW_BYTES = 8 * 1024 * 1024;

async function startServer(windowBytes: number | undefined): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({ "grpc.max_receive_message_length": 16 * 1024 * 1024 });
  if (windowBytes !== undefined) assert.deepEqual(installReceiveWindow(server, windowBytes), { installed: true });
  // Answers with the request's length, so a large upload is seen to arrive whole.
  server.register(ECHO, (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(String(call.request.byteLength))), (b: Buffer) => b, (b: Buffer) => b, "unary");
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { server, port };
}

/** The windows a server advertises, as a plain HTTP/2 client sees them once the server's first frames arrived. */
async function advertisedWindows(port: number): Promise<{ stream: number; connection: number }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  try {
    await new Promise<void>((resolve, reject) => {
      session.once("remoteSettings", () => resolve());
      session.once("error", reject);
    });
    // The connection-level WINDOW_UPDATE follows the SETTINGS frame; a ping's answer comes after it.
    await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
    return { stream: session.remoteSettings.initialWindowSize!, connection: session.state.remoteWindowSize! };
  } finally {
    session.destroy();
  }
}

function echo(port: number, bytes: number): Promise<string> {
  const Client = grpc.makeGenericClientConstructor({ echo: { path: ECHO, requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, "Window");
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { "grpc.max_send_message_length": -1 }) as unknown as { echo(req: Buffer, cb: (err: Error | null, res: Buffer) => void): void; close(): void };
  return new Promise<string>((resolve, reject) => client.echo(Buffer.alloc(bytes, 5), (err, res) => (err ? reject(err) : resolve(res.toString())))).finally(() => client.close());
}

describe("gRPC server receive window (DREAM_GRPC_RECEIVE_WINDOW_BYTES)", () => {
  it("a patched server advertises the window per stream and per connection, and takes an upload larger than the default window", async () => {
    const { server, port } = await startServer(WINDOW_BYTES);
    try {
      assert.deepEqual(await advertisedWindows(port), { stream: WINDOW_BYTES, connection: WINDOW_BYTES });
      assert.equal(await echo(port, 3 * 1024 * 1024), String(3 * 1024 * 1024));
    } finally {
      server.forceShutdown();
    }
  });

  it("an unpatched server keeps grpc-js's 65,535 bytes (the patch touches only the instance it was given)", async () => {
    const patched = await startServer(WINDOW_BYTES);
    const plain = await startServer(undefined);
    try {
      assert.deepEqual(await advertisedWindows(plain.port), { stream: HTTP2_DEFAULT_WINDOW_BYTES, connection: HTTP2_DEFAULT_WINDOW_BYTES });
      assert.equal(await echo(plain.port, 1024 * 1024), String(1024 * 1024));
    } finally {
      patched.server.forceShutdown();
      plain.server.forceShutdown();
    }
  });

  it("refuses another grpc-js line or shape, leaving the server as it was", () => {
    const server = new grpc.Server();
    assert.deepEqual(installReceiveWindow(server, WINDOW_BYTES, "1.15.0"), { installed: false, why: "grpc-js 1.15.0 is not the pinned 1.14 line" });
    assert.equal((server as unknown as { commonServerOptions: { settings?: unknown } }).commonServerOptions.settings, undefined);
    const noOptions = {} as unknown as grpc.Server;
    assert.equal(installReceiveWindow(noOptions, WINDOW_BYTES, "1.14.7").installed, false);
    const otherCreate = { commonServerOptions: {}, createHttp2Server: () => undefined } as unknown as grpc.Server;
    assert.deepEqual(installReceiveWindow(otherCreate, WINDOW_BYTES, "1.14.7"), { installed: false, why: "grpc-js Server.createHttp2Server has another shape" });
    assert.throws(() => installReceiveWindow(server, 1000), /receive window must be an integer in \[65535, 2147483647\], got 1000/);
  });

  it("config: off by default; 0 or [65535, limit] accepted; anything else names the variable", () => {
    assert.equal(loadConfig({}).grpcReceiveWindowBytes, 0);
    assert.equal(loadConfig({ DREAM_GRPC_RECEIVE_WINDOW_BYTES: "0" }).grpcReceiveWindowBytes, 0);
    assert.equal(loadConfig({ DREAM_GRPC_RECEIVE_WINDOW_BYTES: String(WINDOW_BYTES) }).grpcReceiveWindowBytes, WINDOW_BYTES);
    assert.throws(() => loadConfig({ DREAM_GRPC_RECEIVE_WINDOW_BYTES: "1000" }), (e: Error) => e instanceof ConfigError && /DREAM_GRPC_RECEIVE_WINDOW_BYTES must be 0 \(off\) or at least 65535/.test(e.message));
    assert.throws(() => loadConfig({ DREAM_GRPC_RECEIVE_WINDOW_BYTES: String(128 * 1024 * 1024) }), (e: Error) => e instanceof ConfigError && /DREAM_GRPC_RECEIVE_WINDOW_BYTES must be an integer in \[0, 67108864\]/.test(e.message));
    assert.throws(() => loadConfig({ DREAM_GRPC_RECEIVE_WINDOW_BYTES: "8MB" }), /DREAM_GRPC_RECEIVE_WINDOW_BYTES/);
  });
});
