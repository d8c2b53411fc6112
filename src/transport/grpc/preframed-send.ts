// Lets a response that is already a framed gRPC message go out without grpc-js copying it.
//
// grpc-js (1.10+) frames every outgoing message in BaseServerInterceptingCall.serializeMessage: it
// serializes, allocates a new buffer of length + 5 and copies the message behind the prefix. For a
// 361 MB raw PredictBatch response that copy lands in fresh, unfaulted pages and costs 0.3–0.5 s
// after the last chunk, which is most of what the overhead bench measured above the engine. The raw
// arena (raw-arena.ts) already reserves the prefix, so for methods with a registered framer we return
// its framed bytes and let grpc-js write them as they are.
//
// This replaces one private method of grpc-js, so it is installed only when that method has the shape
// it has had since 1.10 (one argument, serializing through this.handler), and every other message takes
// the original path untouched. If grpc-js changes, installation reports false and responses are simply
// copied as before; test/transport/preframed-send.test.ts fails loudly so the change is noticed.
import { BaseServerInterceptingCall } from "@grpc/grpc-js/build/src/server-interceptors";

type Framer = (value: unknown) => Buffer | undefined;
/** Told once every byte of a pre-framed message has been written to the connection. */
type OnSent = (framed: Buffer) => void;

const framers = new Map<string, { framer: Framer; onSent?: OnSent }>();
let installed: boolean | undefined;
let sentWithoutCopy = 0;

interface PatchableCall {
  handler: { path: string };
  stream?: { once(event: "finish", listener: () => void): unknown };
  serializeMessage(value: unknown): Buffer;
}

function install(): boolean {
  const proto = BaseServerInterceptingCall.prototype as unknown as Partial<PatchableCall>;
  const original = proto.serializeMessage;
  if (typeof original !== "function" || original.length !== 1 || !/this\.handler\.serialize\(/.test(String(original))) return false;
  proto.serializeMessage = function (this: PatchableCall, value: unknown): Buffer {
    const registered = framers.get(this.handler.path);
    const framed = registered?.framer(value);
    if (framed === undefined) return original.call(this, value);
    sentWithoutCopy++;
    // 'finish' comes after end() once every write's callback has run, and an http2 write's callback
    // runs when its bytes have gone to the socket: from then on nothing reads the buffer. A stream
    // that fails or is reset never finishes, and its buffer is simply left to the garbage collector.
    const { onSent } = registered!;
    if (onSent && this.stream) this.stream.once("finish", () => onSent(framed));
    return framed;
  };
  return true;
}

/**
 * Registers a framer for one method path: given the handler's response it returns the complete framed
 * message (compressed flag 0, big-endian length, message) or undefined to serialize normally.
 * `onSent` hears about each framed message once all of it has been written (e.g. to reuse the buffer).
 * Returns whether zero-copy sending is active in this process.
 */
export function registerFramer(path: string, framer: Framer, onSent?: OnSent): boolean {
  installed ??= install();
  framers.set(path, { framer, onSent });
  return installed;
}

/** Responses sent from a framer's buffer since the process started (tests and metrics). */
export const preframedSendCount = (): number => sentWithoutCopy;
