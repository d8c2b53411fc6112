// API key → Account. Lookups are cached for a few seconds (authCacheTtlMs) so that a burst of
// requests costs one ledger query; revocation through this process evicts at once, and through any
// other process (the CLI, another server) takes effect within the TTL.
import { timingSafeEqual } from "node:crypto";
import { assert } from "../../core/assert";
import type { Clock } from "../../core/clock";
import { ServiceError } from "../../core/errors";
import { LedgerUnavailableError, type KeyRow, type KeyStore } from "../ledger/ledger";
import { hashApiKey, isWellFormedApiKey } from "./api-key";

export interface Account {
  customerId: string;
  keyId: string;
  keyName: string;
  /** Set when the customer is linked to a Stripe customer. */
  stripeCustomerId: string | null;
  rateLimit: { ratePerS: number; burst: number };
}

interface CacheEntry {
  row: KeyRow;
  expiresAtUs: number;
}

export interface AuthenticatorOptions {
  cacheTtlMs: number;
  cacheEntriesMax: number;
}

export class Authenticator {
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    private readonly keys: KeyStore,
    private readonly clock: Clock,
    private readonly options: AuthenticatorOptions = { cacheTtlMs: 5_000, cacheEntriesMax: 10_000 },
  ) {}

  async authenticate(rawKey: string | undefined): Promise<Account> {
    const key = (rawKey ?? "").trim().replace(/^Bearer\s+/i, "");
    if (key === "") throw new ServiceError("UNAUTHENTICATED", "missing API key: send Authorization: Bearer dre_…");
    if (!isWellFormedApiKey(key)) throw new ServiceError("UNAUTHENTICATED", "malformed API key: expected dre_ followed by 43 base32 characters");
    const hash = hashApiKey(key);
    const row = await this.lookup(hash);
    // The index/map found the row by this hash; compare in constant time anyway so no code path ever
    // compares key material with an early-exit comparison.
    if (!row || row.keyHash.length !== hash.length || !timingSafeEqual(row.keyHash, hash)) {
      throw new ServiceError("UNAUTHENTICATED", "unknown API key");
    }
    if (row.revokedAtMs !== null) throw new ServiceError("PERMISSION_DENIED", `API key ${row.keyId} was revoked`);
    return { customerId: row.customerId, keyId: row.keyId, keyName: row.name, stripeCustomerId: row.stripeCustomerId, rateLimit: { ratePerS: row.ratePerS, burst: row.burst } };
  }

  private async lookup(hash: Buffer): Promise<KeyRow | null> {
    const id = hash.toString("hex");
    const now = this.clock.nowUs();
    const hit = this.cache.get(id);
    if (hit && hit.expiresAtUs > now) return hit.row;
    this.cache.delete(id);
    let row: KeyRow | null;
    try {
      row = await this.keys.findKeyByHash(hash);
    } catch (err) {
      if (err instanceof LedgerUnavailableError) throw new ServiceError("UNAVAILABLE", "cannot check API keys right now (ledger unreachable)", {}, 1);
      throw err;
    }
    // Unknown keys are not cached: garbage keys must not be able to evict real ones.
    if (row) {
      if (this.cache.size >= this.options.cacheEntriesMax) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(id, { row, expiresAtUs: now + this.options.cacheTtlMs * 1000 });
    }
    return row;
  }

  /** Forget a key at once (after revoke or a rate-limit change in this process). */
  evict(keyId: string): void {
    for (const [id, entry] of this.cache) if (entry.row.keyId === keyId) this.cache.delete(id);
  }

  evictCustomer(customerId: string): void {
    for (const [id, entry] of this.cache) if (entry.row.customerId === customerId) this.cache.delete(id);
  }

  get cachedKeys(): number {
    assert(this.cache.size <= this.options.cacheEntriesMax, "auth cache over its bound");
    return this.cache.size;
  }
}
