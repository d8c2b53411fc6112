// Protobuf wire-format primitives and gRPC framing, shared by the server's hand-written encoders
// (transport/grpc/fast-encode.ts, raw-arena.ts) and the TypeScript client. Imports nothing.

export const varintSize = (n: number): number => {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
};

export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** The key byte(s) of a length-delimited field (wire type 2). */
export const lengthDelimited = (field: number): number => (field << 3) | 2;

/** Size on the wire of a length-delimited field carrying `n` bytes. */
export const fieldSize = (field: number, n: number): number => varintSize(lengthDelimited(field)) + varintSize(n) + n;

/** Writes a length-delimited field's key and length; returns where its bytes go. */
export function writeFieldHeader(buf: Uint8Array, pos: number, field: number, n: number): number {
  return writeVarint(buf, writeVarint(buf, pos, lengthDelimited(field)), n);
}

/** gRPC's message prefix: a compressed flag (always 0 here) and the big-endian message length. */
export const GRPC_PREFIX_BYTES = 5;

export function writeGrpcPrefix(buf: Uint8Array, pos: number, messageBytes: number): void {
  buf[pos] = 0;
  new DataView(buf.buffer, buf.byteOffset + pos + 1, 4).setUint32(0, messageBytes, false);
}
