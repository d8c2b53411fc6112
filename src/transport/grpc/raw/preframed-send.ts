// Lets a response that is already a framed gRPC message (a PreFramed) go out without grpc-js copying it.
//
// grpc-js (1.10+) frames every outgoing message in BaseServerInterceptingCall.serializeMessage: it
// serializes, allocates a new buffer of length + 5 and copies the message behind the prefix. For a
// 361 MB raw PredictBatch response that copy lands in fresh, unfaulted pages and costs 0.3–0.5 s
// after the last chunk, which is most of what the overhead bench measured above the engine. The raw
// arena (raw-arena.ts) already reserves the prefix, so for a PreFramed value we return its framed bytes
// and let grpc-js write them as they are.
//
// This replaces one private method of grpc-js (see README.md: the pinned version and what an upgrade
// breaks), so it is installed only when asked (the server's preframedSend option, DREAM_GRPC_PREFRAMED)
// and only when that method has the shape it has had since 1.10 (one argument, serializing through
// this.handler); every other message takes the original path untouched. If grpc-js changes,
// installation reports false and responses are simply copied as before;
// test/transport/preframed-send.test.ts fails loudly so the change is noticed.
import { PreFramed } from "./preframed";

let installed: boolean | undefined;
let sentWithoutCopy = 0;

interface PatchableCall {
  stream?: { once(event: "finish", listener: () => void): unknown };
  serializeMessage(value: unknown): Buffer;
}

/**
 * grpc-js's private call class, loaded only when the patch is asked for: with it off, a grpc-js whose
 * build/ layout moved still starts, and even when on, a missing module only means "not installed".
 */
function privateCallPrototype(): Partial<PatchableCall> | undefined {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require("@grpc/grpc-js/build/src/server-interceptors") as { BaseServerInterceptingCall?: { prototype: unknown } };
    return mod.BaseServerInterceptingCall?.prototype as Partial<PatchableCall> | undefined;
  } catch {
    return undefined;
  }
}

function install(): boolean {
  const proto = privateCallPrototype();
  if (proto === undefined) return false;
  const original = proto.serializeMessage;
  if (typeof original !== "function" || original.length !== 1 || !/this\.handler\.serialize\(/.test(String(original))) return false;
  proto.serializeMessage = function (this: PatchableCall, value: unknown): Buffer {
    if (!(value instanceof PreFramed)) return original.call(this, value);
    sentWithoutCopy++;
    // 'finish' comes after end() once every write's callback has run, and an http2 write's callback
    // runs when its bytes have gone to the socket: from then on nothing reads the buffer. A stream
    // that fails or is reset never finishes, and its buffer is simply left to the garbage collector.
    this.stream?.once("finish", () => value.release());
    return value.framed;
  };
  return true;
}

/**
 * Patches grpc-js (once per process) so that a PreFramed response is written as it is. Returns whether
 * zero-copy sending is active; false leaves grpc-js as it was. Never called, grpc-js is never touched.
 */
export function installPreframedSend(): boolean {
  installed ??= install();
  return installed;
}

/** Responses sent from a PreFramed buffer since the process started (tests and metrics). */
export const preframedSendCount = (): number => sentWithoutCopy;
