// Byte-level mutations of a well-formed input (AFL's havoc stage, in small): flips, truncations,
// insertions, splices, repeated blocks and boundary integers, a few stacked per case.
import type { Prng } from "./prng";

const BOUNDARY_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff];

export function mutateBytes(rng: Prng, input: Buffer, maxBytes: number): Buffer {
  let out: Buffer = Buffer.from(input);
  const rounds = rng.int(1, 4);
  for (let r = 0; r < rounds; r++) out = mutateOnce(rng, out);
  return out.length > maxBytes ? out.subarray(0, maxBytes) : out;
}

function mutateOnce(rng: Prng, b: Buffer): Buffer {
  if (b.length === 0) return rng.bytes(rng.int(1, 16));
  const at = rng.int(0, b.length - 1);
  switch (rng.int(0, 6)) {
    case 0: {
      const c = Buffer.from(b);
      c[at] ^= 1 << rng.int(0, 7);
      return c;
    }
    case 1:
      return b.subarray(0, at);
    case 2:
      return Buffer.concat([b.subarray(0, at), rng.bytes(rng.int(1, 32)), b.subarray(at)]);
    case 3: {
      const c = Buffer.from(b);
      c[at] = rng.pick(BOUNDARY_BYTES);
      return c;
    }
    case 4: {
      const len = Math.min(rng.int(1, 64), b.length - at);
      return Buffer.concat([b.subarray(0, at), b.subarray(at, at + len), b.subarray(at)]);
    }
    case 5:
      return Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + rng.int(1, 64)))]);
    default: {
      const c = Buffer.from(b);
      const len = Math.min(8, c.length - at);
      for (let i = 0; i < len; i++) c[at + i] = 0xff;
      return c;
    }
  }
}
