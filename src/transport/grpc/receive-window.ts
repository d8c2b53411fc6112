// A larger HTTP/2 receive window for the gRPC server (opt-in: DREAM_GRPC_RECEIVE_WINDOW_BYTES).
//
// Why: a request is uploaded only as fast as the server's receive window lets the client send. grpc-js
// 1.14 reads `grpc-node.flow_control_window` for its client transport only (grpc/grpc-node#2864); its
// server always advertises Node's 65,535 bytes, per stream and per connection, with no option to raise
// it (grpc/grpc-node#3058 adds one; not released). So a 74 KB K=1 predict waits for one WINDOW_UPDATE
// round trip, a 1 MB plan request (48 goal frames + 8 candidates) for ~16, each needing both event
// loops to turn — measured on this 2-core VM, the plan's upload took 15–24 ms with the default window
// and 6–8 ms with 8 MiB (scratch runs of bench:mpc's rank request; the closing note of issue 13 and
// docs/BENCHMARKS.md have the bench figures).
//
// How: on this one grpc.Server instance (never the prototype, never another server), before it binds,
// its private `commonServerOptions` gets `settings.initialWindowSize` (the per-stream window it
// advertises in its SETTINGS frame), and its private `createHttp2Server` is wrapped so every new
// session raises its connection-level window with Node's public `session.setLocalWindowSize()` — what
// the client transport does for `grpc-node.flow_control_window`, and what #3058 does on the server.
// Both are grpc-js internals, so this is installed only when asked, only on the pinned grpc-js line
// (1.14.x; package.json pins 1.14.7) and only when both have the shape they have there; otherwise it
// reports why and the server keeps grpc-js's defaults. test/transport/receive-window.test.ts checks
// the advertised windows over a real connection, so an upgrade that breaks it fails loudly.
//
// Cost: a client may have this many bytes in flight per connection before the server reads them; the
// server reads eagerly anyway (a message is buffered whole before its handler runs, bounded by
// grpc.max_receive_message_length), and an unauthenticated call is refused on its metadata.
import type * as grpc from "@grpc/grpc-js";
import type http2 from "node:http2";
import { limits } from "../../core/limits";

/** The grpc-js release line the private shapes below were read from. */
export const RECEIVE_WINDOW_GRPC_JS_LINE = /^1\.14\./;
/** HTTP/2's own default and floor for a receive window (RFC 9113 §6.9.2). */
export const HTTP2_DEFAULT_WINDOW_BYTES = limits.grpcReceiveWindowBytesMin;

interface PatchableServer {
  commonServerOptions?: { settings?: http2.Settings } & Record<string, unknown>;
  createHttp2Server?: (credentials: unknown) => http2.Http2Server;
}

export type ReceiveWindowResult = { installed: true } | { installed: false; why: string };

function grpcJsVersion(): string {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require("@grpc/grpc-js/package.json") as { version: string }).version;
}

/**
 * Raises `server`'s per-stream and per-connection receive windows to `windowBytes`. Call before
 * bindAsync. Returns whether it took effect and, if not, why (the server is then left untouched).
 */
export function installReceiveWindow(server: grpc.Server, windowBytes: number, version: string = grpcJsVersion()): ReceiveWindowResult {
  if (!Number.isInteger(windowBytes) || windowBytes < HTTP2_DEFAULT_WINDOW_BYTES || windowBytes > 2 ** 31 - 1) {
    throw new RangeError(`receive window must be an integer in [${HTTP2_DEFAULT_WINDOW_BYTES}, ${2 ** 31 - 1}], got ${windowBytes}`);
  }
  if (!RECEIVE_WINDOW_GRPC_JS_LINE.test(version)) return { installed: false, why: `grpc-js ${version} is not the pinned 1.14 line` };
  const s = server as unknown as PatchableServer;
  const options = s.commonServerOptions;
  const create = s.createHttp2Server;
  if (typeof options !== "object" || options === null) return { installed: false, why: "grpc-js Server has no commonServerOptions" };
  if (typeof create !== "function" || create.length !== 1) return { installed: false, why: "grpc-js Server.createHttp2Server has another shape" };
  options.settings = { ...options.settings, initialWindowSize: windowBytes };
  s.createHttp2Server = function (this: PatchableServer, credentials: unknown): http2.Http2Server {
    const http2Server = create.call(this, credentials);
    http2Server.on("session", (session: http2.ServerHttp2Session) => {
      try {
        session.setLocalWindowSize(windowBytes);
      } catch {
        // A session already destroyed (its socket closed at once) throws; thrown from this listener it
        // would end the process. There is nothing left to receive on it, so the default is moot.
      }
    });
    return http2Server;
  };
  return { installed: true };
}
