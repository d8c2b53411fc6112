// Small pure pieces: key format and hashing, exact dollar parsing, 402 rounding.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { base32, generateApiKey, hashApiKey, isWellFormedApiKey, newKeyId, newLocalCustomerId } from "../../src/billing/keys/api-key";
import { parseUsdToMicros } from "../../src/billing/usd";
import { insufficientCredits } from "../../src/billing/views";
import { ServiceError } from "../../src/core/errors";

describe("billing/units", function () {
  it("base32 follows RFC 4648 (lower case, no padding)", () => {
    const vectors: [string, string][] = [["", ""], ["f", "my"], ["fo", "mzxq"], ["foo", "mzxw6"], ["foob", "mzxw6yq"], ["fooba", "mzxw6ytb"], ["foobar", "mzxw6ytboi"]];
    for (const [plain, encoded] of vectors) assert.equal(base32(Buffer.from(plain)), encoded);
  });

  it("generates dre_ + 43 base32 characters, all different, and stores only SHA-256", () => {
    const keys = new Set(Array.from({ length: 200 }, generateApiKey));
    assert.equal(keys.size, 200);
    for (const k of keys) assert.ok(isWellFormedApiKey(k), k);
    const k = [...keys][0]!;
    assert.deepEqual(hashApiKey(k), createHash("sha256").update(k).digest());
    assert.equal(isWellFormedApiKey(k.toUpperCase()), false);
    assert.equal(isWellFormedApiKey(`${k}a`), false);
    assert.match(newKeyId(), /^key_[a-z2-7]{16}$/);
    assert.match(newLocalCustomerId(), /^cus_local_[a-z2-7]{16}$/);
  });

  it("parses dollars exactly into micro-USD", () => {
    assert.equal(parseUsdToMicros("usd", "5"), 5_000_000);
    assert.equal(parseUsdToMicros("usd", "$0.0245"), 24_500);
    assert.equal(parseUsdToMicros("usd", "10000.000001"), 10_000_000_001);
    assert.equal(parseUsdToMicros("usd", "0.1"), 100_000);
    for (const bad of ["", "-1", "1.2345678", "1e3", "abc", "0x10"]) assert.throws(() => parseUsdToMicros("usd", bad), ServiceError, bad);
  });

  it("402 details: balance cents half-up, requested cents rounded up, never a negative balance", () => {
    const cases: [number, number, number, number][] = [
      [15_000, 24_500, 2, 3],
      [14_999, 24_500, 1, 3],
      [0, 196_000, 0, 20],
      [-500, 10_001, 0, 2],
    ];
    for (const [balance, requested, balanceCents, requestedCents] of cases) {
      const err = insufficientCredits(balance, requested);
      assert.equal(err.reason, "INSUFFICIENT_CREDITS");
      assert.equal(err.http, 402);
      assert.deepEqual([err.details.balance_cents, err.details.requested_cents, err.details.requested_micros], [balanceCents, requestedCents, requested]);
    }
  });
});
