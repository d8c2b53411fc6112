// API key rows. Only the SHA-256 of a key is stored; lookups are by that hash (an equality probe on a
// unique index over a digest the caller cannot steer, so its timing reveals nothing useful).
import type { KeyRow, KeyStore } from "./ledger";
import { toInt, toIntOrNull, type Row, type SqlDriver } from "./sql-driver";

const KEY_COLUMNS = "k.key_id, k.key_hash, k.customer_id, c.stripe_customer_id, k.name, k.rate_per_s, k.burst, k.created_at_ms, k.revoked_at_ms";
const FROM = "FROM billing_api_keys k JOIN billing_customers c USING (customer_id)";

function toBuffer(value: unknown): Buffer {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof Uint8Array) return Buffer.from(value);
  throw new Error("key_hash is not bytea");
}

function toKeyRow(r: Row): KeyRow {
  return {
    keyId: String(r.key_id),
    keyHash: toBuffer(r.key_hash),
    customerId: String(r.customer_id),
    stripeCustomerId: (r.stripe_customer_id as string | null) ?? null,
    name: String(r.name),
    ratePerS: toInt(r.rate_per_s),
    burst: toInt(r.burst),
    createdAtMs: toInt(r.created_at_ms),
    revokedAtMs: toIntOrNull(r.revoked_at_ms),
  };
}

export class SqlKeyStore implements KeyStore {
  constructor(private readonly db: SqlDriver) {}

  async insertKey(row: { keyId: string; keyHash: Buffer; customerId: string; name: string; createdAtMs: number }): Promise<void> {
    await this.db.query("INSERT INTO billing_api_keys (key_id, key_hash, customer_id, name, created_at_ms) VALUES ($1, $2, $3, $4, $5)", [
      row.keyId,
      row.keyHash,
      row.customerId,
      row.name,
      row.createdAtMs,
    ]);
  }

  async findKeyByHash(keyHash: Buffer): Promise<KeyRow | null> {
    const rows = await this.db.query(`SELECT ${KEY_COLUMNS} ${FROM} WHERE k.key_hash = $1`, [keyHash]);
    return rows.length === 0 ? null : toKeyRow(rows[0]!);
  }

  async findKey(keyId: string): Promise<KeyRow | null> {
    const rows = await this.db.query(`SELECT ${KEY_COLUMNS} ${FROM} WHERE k.key_id = $1`, [keyId]);
    return rows.length === 0 ? null : toKeyRow(rows[0]!);
  }

  async listKeys(customerId?: string): Promise<KeyRow[]> {
    const rows =
      customerId === undefined
        ? await this.db.query(`SELECT ${KEY_COLUMNS} ${FROM} ORDER BY k.created_at_ms, k.key_id`)
        : await this.db.query(`SELECT ${KEY_COLUMNS} ${FROM} WHERE k.customer_id = $1 ORDER BY k.created_at_ms, k.key_id`, [customerId]);
    return rows.map(toKeyRow);
  }

  async revokeKey(keyId: string, atMs: number): Promise<KeyRow | null> {
    // First revocation time wins; revoking again is harmless.
    await this.db.query("UPDATE billing_api_keys SET revoked_at_ms = $2 WHERE key_id = $1 AND revoked_at_ms IS NULL", [keyId, atMs]);
    return this.findKey(keyId);
  }

  async setRateLimit(keyId: string, ratePerS: number, burst: number): Promise<KeyRow | null> {
    await this.db.query("UPDATE billing_api_keys SET rate_per_s = $2, burst = $3 WHERE key_id = $1", [keyId, ratePerS, burst]);
    return this.findKey(keyId);
  }

  async attachStripeCustomer(customerId: string, stripeCustomerId: string): Promise<void> {
    await this.db.query("UPDATE billing_customers SET stripe_customer_id = $2 WHERE customer_id = $1", [customerId, stripeCustomerId]);
  }

  async customerByStripeId(stripeCustomerId: string): Promise<string | null> {
    const rows = await this.db.query("SELECT customer_id FROM billing_customers WHERE stripe_customer_id = $1", [stripeCustomerId]);
    return rows.length === 0 ? null : String(rows[0]!.customer_id);
  }
}
