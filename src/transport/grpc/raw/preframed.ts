// A unary response that is already one complete gRPC message (5-byte prefix included), handed to
// grpc-js in place of the message object. It is a value the unary adapter passes on, not something
// recognised later: the patched serializeMessage (preframed-send.ts) sends `framed` as it is, and with
// the patch off the method's responseSerialize (fast-encode.ts) returns `message()`, which grpc-js
// then frames with its one copy. Nothing here touches grpc-js.
import { GRPC_PREFIX_BYTES } from "../../../wire/framing";

export class PreFramed {
  /**
   * `framed`: compressed flag 0, big-endian length, message. `onSent` hears once every byte of it
   * has been written to the connection (to reuse the buffer); it is never told for a failed stream.
   */
  constructor(
    readonly framed: Buffer,
    private readonly onSent: () => void = () => undefined,
  ) {}

  /** The message without its prefix: a view, for a serializer whose caller frames it itself. */
  message(): Buffer {
    return this.framed.subarray(GRPC_PREFIX_BYTES);
  }

  /** Every byte has left: the buffer may be written again. */
  release(): void {
    this.onSent();
  }
}
