// PGlite's bytea codec, replaced (used in process and by the ledger's PGlite thread).
const BYTEA_OID = 17;

/**
 * bytea in and out through Buffer's native hex codec. PGlite's own (0.5.x) maps every byte through a
 * JavaScript closure (`Array.from(bytes).map(b => b.toString(16)...)`, `parseInt` per byte pair): on
 * the main thread that was over half of the server's CPU under a job of uploaded rows (~80 KB of
 * actions each), and it delayed every control loop's ledger query behind it. Public per-query options
 * (QueryOptions.serializers/parsers), so clones and transactions get them too.
 */
export const byteaCodec = Object.freeze({
  serializers: {
    [BYTEA_OID]: (value: unknown): string => {
      if (!(value instanceof Uint8Array)) throw new Error("Invalid input for bytea type");
      return `\\x${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("hex")}`;
    },
  },
  parsers: {
    [BYTEA_OID]: (text: string): Uint8Array => {
      const bytes = Buffer.from(text.slice(2), "hex"); // text is "\x" then hex digits
      return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
  },
});
