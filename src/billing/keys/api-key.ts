// API key format: "dre_" + 43 characters of RFC 4648 base32 (lower case), 215 bits from the CSPRNG.
// Only SHA-256(key) is stored: a leaked database does not leak usable keys, and a key's high entropy
// makes an unsalted fast hash sufficient (there is nothing to brute-force).
import { createHash, randomBytes } from "node:crypto";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
export const API_KEY_PREFIX = "dre_";
export const API_KEY_BODY_CHARS = 43;
const WELL_FORMED = /^dre_[a-z2-7]{43}$/;

export function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1; // keep only the bits not yet emitted
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

export function generateApiKey(): string {
  // 27 bytes = 216 bits → 44 base32 characters; the first 43 carry 215 uniformly random bits.
  return API_KEY_PREFIX + base32(randomBytes(27)).slice(0, API_KEY_BODY_CHARS);
}

export function isWellFormedApiKey(raw: string): boolean {
  return WELL_FORMED.test(raw);
}

export function hashApiKey(raw: string): Buffer {
  return createHash("sha256").update(raw, "utf8").digest();
}

/** Public handle of a key (safe to print and log; used to revoke). */
export function newKeyId(): string {
  return `key_${base32(randomBytes(10))}`;
}

/** Customer id when no Stripe customer is attached. */
export function newLocalCustomerId(): string {
  return `cus_local_${base32(randomBytes(10))}`;
}

/** Accepts our own ids and Stripe's (cus_…). */
export const CUSTOMER_ID = /^cus_[A-Za-z0-9_]{1,100}$/;
