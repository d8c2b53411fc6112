// How the TS client picks its channel credentials: plaintext only for this machine's addresses (or
// when told), TLS otherwise, and the caller's own credentials as given. Against a real grpc-js server
// with a throwaway self-signed certificate (openssl), TLS with that root works and plaintext does not,
// and TLS to a plaintext server fails rather than silently falling back.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { DreamClient, isLoopbackAddress } from "../../clients/typescript/src";
import { channelCredentials } from "../../clients/typescript/src/credentials";
import { FakeEngine, okStatus, rejection } from "./fake-engine";

function selfSigned(): { key: Buffer; cert: Buffer } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-tls-"));
  try {
    const [key, cert] = [path.join(dir, "key.pem"), path.join(dir, "cert.pem")];
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], { stdio: "ignore" });
    return { key: fs.readFileSync(key), cert: fs.readFileSync(cert) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("TS client: credentials", function () {
  this.timeout(30_000);

  it("treats localhost, 127/8, ::1 and unix sockets as loopback, and nothing else", () => {
    for (const a of ["localhost:50051", "127.0.0.1:50051", "127.3.2.1:1", "[::1]:50051", "dns:///localhost:50051", "ipv4:127.0.0.1:9", "unix:/tmp/dream.sock", "localhost"]) assert.ok(isLoopbackAddress(a), a);
    for (const a of ["engine.example.com:443", "10.0.0.5:50051", "[2001:db8::1]:443", "dns:///engine.example.com", "localhost.example.com:1", "128.0.0.1:1"]) assert.ok(!isLoopbackAddress(a), a);
  });

  it("defaults to TLS off loopback and plaintext on it; tls and credentials override", () => {
    assert.equal(channelCredentials("engine.example.com:443", {})._isSecure(), true);
    assert.equal(channelCredentials("127.0.0.1:50051", {})._isSecure(), false);
    assert.equal(channelCredentials("127.0.0.1:50051", { tls: true })._isSecure(), true);
    assert.equal(channelCredentials("engine.example.com:443", { tls: false })._isSecure(), false);
    const mine = grpc.credentials.createInsecure();
    assert.equal(channelCredentials("engine.example.com:443", { credentials: mine, tls: true }), mine);
  });

  it("with TLS asked of a plaintext server, the call fails UNAVAILABLE instead of going out in the clear", async () => {
    const engine = await FakeEngine.start();
    const client = new DreamClient({ address: engine.address, tls: true, retries: 0, timeoutMs: 5000 });
    try {
      engine.status = [okStatus()];
      const err = await rejection(client.getStatus());
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.equal(engine.calls.length, 0, "nothing reached the server");
    } finally {
      client.close();
      await engine.stop();
    }
  });

  it("talks to a TLS server whose root it is given, and a plaintext client cannot", async () => {
    const { key, cert } = selfSigned();
    const engine = await FakeEngine.start(grpc.ServerCredentials.createSsl(null, [{ private_key: key, cert_chain: cert }]));
    const secure = new DreamClient({ address: `localhost:${engine.port}`, tls: { rootCerts: cert }, apiKey: "k1" });
    const plain = new DreamClient({ address: `localhost:${engine.port}`, retries: 0, timeoutMs: 5000 });
    try {
      engine.status = [okStatus(), okStatus()];
      assert.equal((await secure.getStatus()).version, "fake");
      assert.deepEqual(engine.calls[0]!.metadata.get("authorization"), ["Bearer k1"]);
      assert.equal((await rejection(plain.getStatus())).code, grpc.status.UNAVAILABLE);
      assert.equal(engine.calls.length, 1);
    } finally {
      secure.close();
      plain.close();
      await engine.stop();
    }
  });
});
