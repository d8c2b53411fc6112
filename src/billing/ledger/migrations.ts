// Versioned schema, applied in order by migrate.ts on both node-postgres and PGlite (same SQL).
// Never edit a shipped migration: add the next version.
//
// Money tables are append-only (a trigger refuses UPDATE/DELETE): entries, holds, settlements.
// billing_customers.balance_micros/seq and billing_open_holds are derived caches kept in the same
// transactions; `ledger reconcile` re-derives and checks them.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: "accounts, keys, append-only entries, holds, settlements",
    sql: `
CREATE TABLE billing_customers (
  customer_id        text PRIMARY KEY,
  stripe_customer_id text UNIQUE,
  balance_micros     bigint NOT NULL DEFAULT 0 CONSTRAINT billing_balance_nonnegative CHECK (balance_micros >= 0),
  seq                bigint NOT NULL DEFAULT 0,
  created_at_ms      bigint NOT NULL
);

CREATE TABLE billing_api_keys (
  key_id        text PRIMARY KEY,
  key_hash      bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
  customer_id   text NOT NULL REFERENCES billing_customers (customer_id),
  name          text NOT NULL,
  rate_per_s    integer NOT NULL DEFAULT 50 CHECK (rate_per_s > 0),
  burst         integer NOT NULL DEFAULT 200 CHECK (burst > 0),
  created_at_ms bigint NOT NULL,
  revoked_at_ms bigint
);
CREATE INDEX billing_api_keys_by_customer ON billing_api_keys (customer_id);

CREATE TABLE billing_entries (
  entry_id             bigserial PRIMARY KEY,
  customer_id          text NOT NULL REFERENCES billing_customers (customer_id),
  seq                  bigint NOT NULL,
  kind                 text NOT NULL CHECK (kind IN ('grant', 'topup', 'debit', 'refund')),
  amount_micros        bigint NOT NULL,
  balance_after_micros bigint NOT NULL CHECK (balance_after_micros >= 0),
  request_id           text,
  grant_key            text UNIQUE,
  stripe_session_id    text UNIQUE,
  stripe_event_id      text UNIQUE,
  description          text NOT NULL DEFAULT '',
  created_at_ms        bigint NOT NULL,
  UNIQUE (customer_id, seq),
  CHECK ((kind = 'debit') = (amount_micros < 0)),
  CHECK (amount_micros <> 0),
  CHECK (kind <> 'grant' OR grant_key IS NOT NULL),
  CHECK (kind <> 'topup' OR stripe_session_id IS NOT NULL),
  CHECK ((kind IN ('debit', 'refund')) = (request_id IS NOT NULL))
);
-- Idempotency by request id: one debit (the hold) and at most one refund (its settlement) per request.
CREATE UNIQUE INDEX billing_entries_one_debit_per_request ON billing_entries (request_id) WHERE kind = 'debit';
CREATE UNIQUE INDEX billing_entries_one_refund_per_request ON billing_entries (request_id) WHERE kind = 'refund';

CREATE TABLE billing_holds (
  request_id     text PRIMARY KEY,
  customer_id    text NOT NULL REFERENCES billing_customers (customer_id),
  amount_micros  bigint NOT NULL CHECK (amount_micros > 0),
  expires_at_ms  bigint NOT NULL,
  hold_seq       bigint NOT NULL,
  debit_entry_id bigint NOT NULL UNIQUE REFERENCES billing_entries (entry_id),
  created_at_ms  bigint NOT NULL
);

-- Exactly one outcome per hold: the primary key is the arbiter between post, void and expiry.
CREATE TABLE billing_settlements (
  request_id      text PRIMARY KEY REFERENCES billing_holds (request_id),
  outcome         text NOT NULL CHECK (outcome IN ('posted', 'voided', 'expired')),
  captured_micros bigint NOT NULL CHECK (captured_micros >= 0),
  released_micros bigint NOT NULL CHECK (released_micros >= 0),
  settle_seq      bigint NOT NULL,
  refund_entry_id bigint UNIQUE REFERENCES billing_entries (entry_id),
  created_at_ms   bigint NOT NULL,
  CHECK (outcome = 'posted' OR captured_micros = 0),
  CHECK ((released_micros > 0) = (refund_entry_id IS NOT NULL))
);

-- Index of unsettled holds (a cache, deleted on settlement) so the sweeper never scans history.
CREATE TABLE billing_open_holds (
  request_id    text PRIMARY KEY REFERENCES billing_holds (request_id),
  customer_id   text NOT NULL,
  expires_at_ms bigint NOT NULL
);
CREATE INDEX billing_open_holds_by_expiry ON billing_open_holds (expires_at_ms);
CREATE INDEX billing_open_holds_by_customer ON billing_open_holds (customer_id);

CREATE FUNCTION billing_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'billing table % is append-only', TG_TABLE_NAME USING ERRCODE = 'P0001';
END $$;
CREATE TRIGGER billing_entries_append_only BEFORE UPDATE OR DELETE ON billing_entries
  FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER billing_holds_append_only BEFORE UPDATE OR DELETE ON billing_holds
  FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER billing_settlements_append_only BEFORE UPDATE OR DELETE ON billing_settlements
  FOR EACH ROW EXECUTE FUNCTION billing_append_only();
`,
  },
  {
    version: 2,
    name: "announce committed credits (NOTIFY) so servers' in-process balance stores apply a CLI grant at once",
    sql: `
-- Sent at commit, to every listener of this database; the schema tells tests' (and tenants') schemas apart.
CREATE FUNCTION billing_notify_credit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('dream_billing_credit', json_build_object(
    'schema', TG_TABLE_SCHEMA, 'c', NEW.customer_id, 'a', NEW.amount_micros, 's', NEW.seq)::text);
  RETURN NULL;
END $$;
CREATE TRIGGER billing_entries_notify_credit AFTER INSERT ON billing_entries
  FOR EACH ROW WHEN (NEW.kind IN ('grant', 'topup')) EXECUTE FUNCTION billing_notify_credit();
`,
  },
];
