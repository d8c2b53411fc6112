// Importing @dream-engine/client must leave grpc-js exactly as it was: warm receive replaces a private
// decoder method, which only a client constructed with `warmReceive` may do. Each check runs in a
// fresh process (this one has long since loaded the client), snapshots every own property of the
// grpc-js prototypes a receive or send path goes through, imports the package (its sources, and the
// built package as users get it), constructs a client without the option, and compares; then one
// with the option, which must show the decoder patched, or the snapshot could not see a patch at all.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { builtClientMain, ROOT } from "./built-client";

const PROBE = String.raw`
const modules = {
  StreamDecoder: ["@grpc/grpc-js/build/src/stream-decoder", "StreamDecoder"],
  Http2SubchannelCall: ["@grpc/grpc-js/build/src/subchannel-call", "Http2SubchannelCall"],
  BaseServerInterceptingCall: ["@grpc/grpc-js/build/src/server-interceptors", "BaseServerInterceptingCall"],
  ServerInterceptingCall: ["@grpc/grpc-js/build/src/server-interceptors", "ServerInterceptingCall"],
  ClientUnaryCallImpl: ["@grpc/grpc-js/build/src/call", "ClientUnaryCallImpl"],
  ClientReadableStreamImpl: ["@grpc/grpc-js/build/src/call", "ClientReadableStreamImpl"],
  Client: ["@grpc/grpc-js/build/src/client", "Client"],
  ResolvingCall: ["@grpc/grpc-js/build/src/resolving-call", "ResolvingCall"],
  LoadBalancingCall: ["@grpc/grpc-js/build/src/load-balancing-call", "LoadBalancingCall"],
  RetryingCall: ["@grpc/grpc-js/build/src/retrying-call", "RetryingCall"],
  Http2SubchannelConnector: ["@grpc/grpc-js/build/src/transport", "Http2SubchannelConnector"],
};
const protos = Object.entries(modules).map(([name, [m, cls]]) => [name, require(m)[cls].prototype]);
// Node's HTTP/2 stream classes are not exported: Duplex, which they extend, and http2's own exports
// stand in for them.
protos.push(["Duplex", require("node:stream").Duplex.prototype]);
protos.push(["http2", require("node:http2")]);
function snapshot() {
  const out = new Map();
  for (const [name, proto] of protos) {
    for (const key of Reflect.ownKeys(proto)) {
      const d = Object.getOwnPropertyDescriptor(proto, key);
      out.set(name + "." + String(key), [d.value, d.get, d.set]);
    }
  }
  return out;
}
function changed(before, after) {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => { const a = before.get(k), b = after.get(k); return !a || !b || a.some((v, i) => v !== b[i]); });
}
const s0 = snapshot();
const pkg = require(process.env.CLIENT_ENTRY);
const s1 = snapshot();
const plain = new pkg.DreamClient({ address: "127.0.0.1:1" });
plain.close();
const s2 = snapshot();
const warm = new pkg.DreamClient({ address: "127.0.0.1:1", warmReceive: true });
warm.close();
const s3 = snapshot();
process.stdout.write(JSON.stringify({ properties: s0.size, atImport: changed(s0, s1), constructedWithout: changed(s1, s2), constructedWith: changed(s2, s3), installed: pkg.warmReceiveInstalled() }));
`;

function probe(entry: string): { properties: number; atImport: string[]; constructedWithout: string[]; constructedWith: string[]; installed: boolean } {
  const out = execFileSync(process.execPath, ["--import", "tsx", "-e", PROBE], { cwd: ROOT, env: { ...process.env, CLIENT_ENTRY: entry }, encoding: "utf8" });
  return JSON.parse(out);
}

describe("TS client: nothing patched at import", function () {
  this.timeout(120_000);

  for (const [what, entry] of [
    ["the sources", () => path.join(ROOT, "clients", "typescript", "src", "index.ts")],
    ["the built package", builtClientMain],
  ] as const) {
    it(`${what}: import and a plain client change no grpc-js prototype; warmReceive patches the decoder`, () => {
      const r = probe(entry());
      assert.ok(r.properties > 100, `only ${r.properties} properties snapshotted`);
      assert.deepEqual(r.atImport, [], "changed by the import");
      assert.deepEqual(r.constructedWithout, [], "changed by a client without warmReceive");
      assert.deepEqual(r.constructedWith, ["StreamDecoder.write"], "warmReceive: true replaces exactly the decoder's write");
      assert.equal(r.installed, true);
    });
  }
});
