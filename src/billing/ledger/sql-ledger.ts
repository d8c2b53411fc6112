// The Ledger over SQL (node-postgres or PGlite). Every money movement is ONE statement (one round trip,
// its own transaction) that updates the customer row (balance, seq) and appends entries; the row lock
// is held only while that statement runs. Unique constraints make each call idempotent, and a CHECK
// keeps the balance from ever going negative even if a caller is wrong.
import { assert } from "../../core/assert";
import { assertMicros } from "../../core/money";
import {
  LedgerConflictError,
  LedgerNotFoundError,
  type CreditInput,
  type CreditNotice,
  type CustomerSnapshot,
  type Entry,
  type EntryKind,
  type Hold,
  type HoldOutcome,
  type HoldResult,
  type Ledger,
  type LedgerTotals,
  type Settlement,
} from "./ledger";
import { sqlState, toInt, UNIQUE_VIOLATION, type Queryable, type Row, type SqlDriver } from "./sql-driver";

const ENTRY_COLUMNS = "entry_id, customer_id, seq, kind, amount_micros, balance_after_micros, request_id, description, created_at_ms";
const HOLD_COLUMNS = "h.request_id, h.customer_id, h.amount_micros, h.expires_at_ms, h.hold_seq, h.created_at_ms";
// An open hold's expiry lives in billing_open_holds (the cache renewals move); billing_holds keeps the first.
const OPEN_HOLD_COLUMNS = "h.request_id, h.customer_id, h.amount_micros, o.expires_at_ms, h.hold_seq, h.created_at_ms";
const SETTLEMENT_COLUMNS = `s.request_id, h.customer_id, s.outcome, h.amount_micros, s.captured_micros, s.released_micros,
  h.hold_seq, s.settle_seq, s.created_at_ms`;

function toEntry(r: Row): Entry {
  return {
    entryId: toInt(r.entry_id),
    customerId: String(r.customer_id),
    seq: toInt(r.seq),
    kind: r.kind as EntryKind,
    amountMicros: toInt(r.amount_micros),
    balanceAfterMicros: toInt(r.balance_after_micros),
    requestId: (r.request_id as string | null) ?? null,
    description: String(r.description ?? ""),
    createdAtMs: toInt(r.created_at_ms),
  };
}

function toHold(r: Row): Hold {
  return {
    requestId: String(r.request_id),
    customerId: String(r.customer_id),
    amountMicros: toInt(r.amount_micros),
    expiresAtMs: toInt(r.expires_at_ms),
    holdSeq: toInt(r.hold_seq),
    createdAtMs: toInt(r.created_at_ms),
  };
}

function toSettlement(r: Row): Settlement {
  return {
    requestId: String(r.request_id),
    customerId: String(r.customer_id),
    outcome: r.outcome as HoldOutcome,
    heldMicros: toInt(r.amount_micros),
    capturedMicros: toInt(r.captured_micros),
    releasedMicros: toInt(r.released_micros),
    holdSeq: toInt(r.hold_seq),
    settleSeq: toInt(r.settle_seq),
    createdAtMs: toInt(r.created_at_ms),
  };
}

/** Channel of the credit trigger (migration 2). */
const CREDIT_CHANNEL = "dream_billing_credit";

function parseCreditNotice(payload: string, schema: string): CreditNotice | null {
  let v: { schema?: unknown; c?: unknown; a?: unknown; s?: unknown };
  try {
    v = JSON.parse(payload) as typeof v;
  } catch {
    return null;
  }
  if (v.schema !== schema || typeof v.c !== "string" || !Number.isSafeInteger(v.a) || !Number.isSafeInteger(v.s) || (v.a as number) <= 0) return null;
  return { customerId: v.c, amountMicros: v.a as number, seq: v.s as number };
}

function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === UNIQUE_VIOLATION;
}

export class SqlLedger implements Ledger {
  constructor(private readonly db: SqlDriver) {}

  async ping(): Promise<void> {
    await this.db.query("SELECT 1");
  }

  async ensureCustomer(customerId: string, atMs: number): Promise<void> {
    await this.db.query("INSERT INTO billing_customers (customer_id, created_at_ms) VALUES ($1, $2) ON CONFLICT (customer_id) DO NOTHING", [customerId, atMs]);
  }

  async customerExists(customerId: string): Promise<boolean> {
    return (await this.db.query("SELECT 1 FROM billing_customers WHERE customer_id = $1", [customerId])).length > 0;
  }

  private async findCredit(q: Queryable, input: CreditInput): Promise<Entry | null> {
    const rows =
      input.kind === "grant"
        ? await q.query(`SELECT ${ENTRY_COLUMNS} FROM billing_entries WHERE grant_key = $1`, [input.grantKey])
        : await q.query(`SELECT ${ENTRY_COLUMNS} FROM billing_entries WHERE stripe_session_id = $1 OR (stripe_event_id IS NOT NULL AND stripe_event_id = $2)`, [
            input.stripeSessionId,
            input.stripeEventId,
          ]);
    if (rows.length === 0) return null;
    const entry = toEntry(rows[0]!);
    // A reused key must describe the same credit; anything else is a caller bug worth stopping on.
    if (entry.customerId !== input.customerId || entry.amountMicros !== input.amountMicros || entry.kind !== input.kind) {
      throw new LedgerConflictError(`${input.kind} key already used for ${entry.kind} of ${entry.amountMicros} micros to ${entry.customerId}`);
    }
    return entry;
  }

  async credit(input: CreditInput): Promise<{ entry: Entry; created: boolean }> {
    assertMicros(input.amountMicros);
    assert(input.amountMicros > 0, "a credit must be positive");
    // Bump the customer and append the entry in one statement. A reused grant key / Stripe session /
    // event id fails a unique constraint and rolls the statement back; the existing entry answers.
    let rows: Row[];
    try {
      rows = await this.db.query(
        `WITH c AS (
           UPDATE billing_customers SET balance_micros = balance_micros + $2, seq = seq + 1
           WHERE customer_id = $1 RETURNING balance_micros, seq)
         INSERT INTO billing_entries (customer_id, seq, kind, amount_micros, balance_after_micros, grant_key, stripe_session_id, stripe_event_id, description, created_at_ms)
         SELECT $1, c.seq, $3, $2, c.balance_micros, $4, $5, $6, $7, $8 FROM c
         RETURNING ${ENTRY_COLUMNS}`,
        [
          input.customerId,
          input.amountMicros,
          input.kind,
          input.kind === "grant" ? input.grantKey : null,
          input.kind === "topup" ? input.stripeSessionId : null,
          input.kind === "topup" ? input.stripeEventId : null,
          input.description,
          input.atMs,
        ],
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const existing = await this.findCredit(this.db, input);
      if (!existing) throw err;
      return { entry: existing, created: false };
    }
    if (rows.length === 0) throw new LedgerNotFoundError(`unknown customer ${input.customerId}`);
    return { entry: toEntry(rows[0]!), created: true };
  }

  private async existingHold(q: Queryable, requestId: string): Promise<Hold | null> {
    const rows = await q.query(`SELECT ${HOLD_COLUMNS} FROM billing_holds h WHERE h.request_id = $1`, [requestId]);
    return rows.length === 0 ? null : toHold(rows[0]!);
  }

  private async balanceOf(q: Queryable, customerId: string): Promise<number | null> {
    const rows = await q.query("SELECT balance_micros FROM billing_customers WHERE customer_id = $1", [customerId]);
    return rows.length === 0 ? null : toInt(rows[0]!.balance_micros);
  }

  async hold(input: { customerId: string; requestId: string; amountMicros: number; expiresAtMs: number; atMs: number }): Promise<HoldResult> {
    assertMicros(input.amountMicros);
    assert(input.amountMicros > 0, "a hold must be positive");
    // Check-and-debit under the row lock (the ledger's own guard against overspend), then append the
    // debit, the hold and its open-hold index row, all in one statement. A repeated request id fails
    // the hold's primary key and rolls everything back.
    let rows: Row[];
    try {
      rows = await this.db.query(
        `WITH c AS (
           UPDATE billing_customers SET balance_micros = balance_micros - $2, seq = seq + 1
           WHERE customer_id = $1 AND balance_micros >= $2 RETURNING balance_micros, seq),
         e AS (
           INSERT INTO billing_entries (customer_id, seq, kind, amount_micros, balance_after_micros, request_id, description, created_at_ms)
           SELECT $1, c.seq, 'debit', -$2::bigint, c.balance_micros, $3, 'pre-debit (hold)', $5 FROM c
           RETURNING entry_id, seq, balance_after_micros),
         h AS (
           INSERT INTO billing_holds (request_id, customer_id, amount_micros, expires_at_ms, hold_seq, debit_entry_id, created_at_ms)
           SELECT $3, $1, $2, $4, e.seq, e.entry_id, $5 FROM e
           RETURNING request_id, customer_id, amount_micros, expires_at_ms, hold_seq, created_at_ms),
         o AS (
           INSERT INTO billing_open_holds (request_id, customer_id, expires_at_ms) SELECT request_id, customer_id, expires_at_ms FROM h)
         SELECT h.*, e.balance_after_micros FROM h, e`,
        [input.customerId, input.amountMicros, input.requestId, input.expiresAtMs, input.atMs],
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const raced = await this.duplicateHold(input);
      if (!raced) throw err;
      return raced;
    }
    if (rows.length > 0) return { status: "held", hold: toHold(rows[0]!), created: true, balanceMicros: toInt(rows[0]!.balance_after_micros) };
    // Nothing debited: a repeat of an existing hold (reported as such even if the balance is now
    // short), an unknown customer, or not enough money.
    const existing = await this.duplicateHold(input);
    if (existing) return existing;
    const balanceMicros = await this.balanceOf(this.db, input.customerId);
    if (balanceMicros === null) throw new LedgerNotFoundError(`unknown customer ${input.customerId}`);
    return { status: "insufficient", balanceMicros };
  }

  private async duplicateHold(input: { customerId: string; requestId: string; amountMicros: number }): Promise<HoldResult | null> {
    const hold = await this.existingHold(this.db, input.requestId);
    if (!hold) return null;
    if (hold.customerId !== input.customerId || hold.amountMicros !== input.amountMicros) {
      throw new LedgerConflictError(`request ${input.requestId} already holds ${hold.amountMicros} micros for ${hold.customerId}`);
    }
    return { status: "held", hold, created: false, balanceMicros: (await this.balanceOf(this.db, input.customerId)) ?? 0 };
  }

  async settle(input: { requestId: string; outcome: HoldOutcome; capturedMicros: number; atMs: number }): Promise<{ settlement: Settlement; created: boolean } | null> {
    assertMicros(input.capturedMicros);
    assert(input.capturedMicros >= 0, "captured must not be negative");
    assert(input.outcome === "posted" || input.capturedMicros === 0, "only a post captures");
    const description = input.outcome === "posted" ? "refund of frames not produced" : input.outcome === "voided" ? "refund: request failed" : "refund: hold expired";
    // One statement. Deleting the hold's open-hold row is the arbiter: of concurrent post/void/expiry,
    // the first to delete it settles; the others wait on that row, find it gone and change nothing.
    // The settlement's primary key backs this up.
    const rows = await this.db.query(
      `WITH h AS (
         SELECT request_id, customer_id, amount_micros, hold_seq FROM billing_holds WHERE request_id = $1 AND $3::bigint <= amount_micros),
       del AS (
         DELETE FROM billing_open_holds o USING h WHERE o.request_id = h.request_id RETURNING o.request_id),
       c AS (
         UPDATE billing_customers cu SET balance_micros = cu.balance_micros + (h.amount_micros - $3::bigint), seq = cu.seq + 1
         FROM h, del WHERE cu.customer_id = h.customer_id RETURNING cu.balance_micros, cu.seq),
       r AS (
         INSERT INTO billing_entries (customer_id, seq, kind, amount_micros, balance_after_micros, request_id, description, created_at_ms)
         SELECT h.customer_id, c.seq, 'refund', h.amount_micros - $3::bigint, c.balance_micros, $1, $4, $5 FROM c, h WHERE h.amount_micros > $3::bigint
         RETURNING entry_id),
       s AS (
         INSERT INTO billing_settlements (request_id, outcome, captured_micros, released_micros, settle_seq, refund_entry_id, created_at_ms)
         SELECT $1, $2, $3, h.amount_micros - $3::bigint, c.seq, (SELECT entry_id FROM r), $5 FROM c, h
         RETURNING settle_seq)
       SELECT h.customer_id, h.amount_micros, h.hold_seq, s.settle_seq FROM h, s`,
      [input.requestId, input.outcome, input.capturedMicros, description, input.atMs],
    );
    if (rows.length > 0) {
      const r = rows[0]!;
      const heldMicros = toInt(r.amount_micros);
      const settlement: Settlement = {
        requestId: input.requestId,
        customerId: String(r.customer_id),
        outcome: input.outcome,
        heldMicros,
        capturedMicros: input.capturedMicros,
        releasedMicros: heldMicros - input.capturedMicros,
        holdSeq: toInt(r.hold_seq),
        settleSeq: toInt(r.settle_seq),
        createdAtMs: input.atMs,
      };
      return { settlement, created: true };
    }
    const status = await this.holdStatus(input.requestId);
    if (status === null) return null;
    if (status.settlement !== null) return { settlement: status.settlement, created: false };
    assert(input.capturedMicros <= status.hold.amountMicros, `cannot capture ${input.capturedMicros} micros from a hold of ${status.hold.amountMicros}`);
    throw new Error(`hold ${input.requestId} is neither open nor settled (open-hold index out of step)`);
  }

  async holdStatus(requestId: string): Promise<{ hold: Hold; settlement: Settlement | null } | null> {
    const hold = await this.existingHold(this.db, requestId);
    if (!hold) return null;
    const rows = await this.db.query(`SELECT ${SETTLEMENT_COLUMNS} FROM billing_settlements s JOIN billing_holds h USING (request_id) WHERE s.request_id = $1`, [requestId]);
    return { hold, settlement: rows.length === 0 ? null : toSettlement(rows[0]!) };
  }

  async renewHolds(requestIds: string[], expiresAtMs: number): Promise<number> {
    if (requestIds.length === 0) return 0;
    // Only the derived open-hold index changes (billing_holds is append-only and keeps the first expiry).
    const rows = await this.db.query(
      `UPDATE billing_open_holds SET expires_at_ms = GREATEST(expires_at_ms, $2::bigint)
       WHERE request_id = ANY($1::text[]) RETURNING request_id`,
      [requestIds, expiresAtMs],
    );
    return rows.length;
  }

  async expiredHolds(nowMs: number, limit: number): Promise<Hold[]> {
    const rows = await this.db.query(
      `SELECT ${OPEN_HOLD_COLUMNS} FROM billing_open_holds o JOIN billing_holds h USING (request_id)
       WHERE o.expires_at_ms <= $1 ORDER BY o.expires_at_ms, o.request_id LIMIT $2`,
      [nowMs, limit],
    );
    return rows.map(toHold);
  }

  async balance(customerId: string): Promise<{ balanceMicros: number; heldMicros: number; seq: number }> {
    const rows = await this.db.query(
      `SELECT c.balance_micros, c.seq,
         (SELECT coalesce(sum(h.amount_micros), 0)::bigint FROM billing_open_holds o JOIN billing_holds h USING (request_id) WHERE o.customer_id = c.customer_id) AS held
       FROM billing_customers c WHERE c.customer_id = $1`,
      [customerId],
    );
    if (rows.length === 0) return { balanceMicros: 0, heldMicros: 0, seq: 0 };
    return { balanceMicros: toInt(rows[0]!.balance_micros), heldMicros: toInt(rows[0]!.held), seq: toInt(rows[0]!.seq) };
  }

  async transactions(customerId: string, limit: number): Promise<Entry[]> {
    const rows = await this.db.query(`SELECT ${ENTRY_COLUMNS} FROM billing_entries WHERE customer_id = $1 ORDER BY seq DESC LIMIT $2`, [customerId, limit]);
    return rows.map(toEntry);
  }

  async withSnapshot<T>(customerIds: string[] | null, fn: (snapshot: CustomerSnapshot[]) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => {
      // Every money transaction updates its customer's row, so holding these locks means nothing for
      // the covered customers commits until fn (the mirror update) is done. READ COMMITTED is enough:
      // after the locks are granted no covered writer can commit between our statements.
      if (customerIds === null) await tx.query("LOCK TABLE billing_customers IN SHARE MODE");
      else await tx.query("SELECT customer_id FROM billing_customers WHERE customer_id = ANY($1::text[]) ORDER BY customer_id FOR SHARE", [customerIds]);
      const where = customerIds === null ? "" : "WHERE c.customer_id = ANY($1::text[])";
      const params = customerIds === null ? [] : [customerIds];
      const customers = await tx.query(`SELECT c.customer_id, c.balance_micros, c.seq FROM billing_customers c ${where} ORDER BY c.customer_id`, params);
      const holds = await tx.query(
        `SELECT ${OPEN_HOLD_COLUMNS} FROM billing_open_holds o JOIN billing_holds h USING (request_id) JOIN billing_customers c ON c.customer_id = h.customer_id ${where}`,
        params,
      );
      const byCustomer = new Map<string, CustomerSnapshot>();
      for (const r of customers) {
        byCustomer.set(String(r.customer_id), { customerId: String(r.customer_id), balanceMicros: toInt(r.balance_micros), seq: toInt(r.seq), openHolds: [] });
      }
      for (const r of holds) byCustomer.get(String(r.customer_id))?.openHolds.push(toHold(r));
      return fn([...byCustomer.values()]);
    });
  }

  async totals(customerId?: string): Promise<LedgerTotals> {
    const by = customerId === undefined ? "" : "WHERE customer_id = $1";
    const byHold = customerId === undefined ? "" : "WHERE h.customer_id = $1";
    const params = customerId === undefined ? [] : [customerId];
    const rows = await this.db.query(
      `SELECT
        (SELECT coalesce(sum(amount_micros), 0)::bigint FROM billing_entries ${by} ${by ? "AND" : "WHERE"} kind = 'grant') AS granted,
        (SELECT coalesce(sum(amount_micros), 0)::bigint FROM billing_entries ${by} ${by ? "AND" : "WHERE"} kind = 'topup') AS topped,
        (SELECT coalesce(sum(s.captured_micros), 0)::bigint FROM billing_settlements s JOIN billing_holds h USING (request_id) ${byHold}) AS captured,
        (SELECT coalesce(sum(h.amount_micros), 0)::bigint FROM billing_open_holds o JOIN billing_holds h USING (request_id) ${byHold}) AS held,
        (SELECT coalesce(sum(balance_micros), 0)::bigint FROM billing_customers ${by}) AS balance`,
      params,
    );
    const r = rows[0]!;
    return { grantedMicros: toInt(r.granted), toppedUpMicros: toInt(r.topped), capturedMicros: toInt(r.captured), heldMicros: toInt(r.held), balanceMicros: toInt(r.balance) };
  }

  async subscribeCredits(onCredit: (credit: CreditNotice) => void, onGap: () => void): Promise<{ close(): Promise<void> } | null> {
    if (!this.db.listen) return null;
    // Notifications reach every listener of the database; only this schema's credits are ours.
    const schema = String((await this.db.query("SELECT current_schema() AS s"))[0]!.s);
    return this.db.listen(CREDIT_CHANNEL, (payload) => {
      const notice = parseCreditNotice(payload, schema);
      if (notice) onCredit(notice);
    }, onGap);
  }

  async verify(): Promise<string[]> {
    const problems: string[] = [];
    const check = async (label: string, sql: string, describe: (r: Row) => string): Promise<void> => {
      for (const r of await this.db.query(`${sql} LIMIT 20`)) problems.push(`${label}: ${describe(r)}`);
    };
    await check(
      "balance differs from the sum of its entries",
      `SELECT c.customer_id, c.balance_micros, coalesce(e.total, 0)::bigint AS total FROM billing_customers c
       LEFT JOIN (SELECT customer_id, sum(amount_micros)::bigint AS total FROM billing_entries GROUP BY customer_id) e USING (customer_id)
       WHERE c.balance_micros <> coalesce(e.total, 0)`,
      (r) => `${r.customer_id} has ${r.balance_micros}, entries sum to ${r.total}`,
    );
    await check(
      "running balance broken",
      `SELECT customer_id, entry_id, balance_after_micros, running FROM (
         SELECT customer_id, entry_id, balance_after_micros, (sum(amount_micros) OVER (PARTITION BY customer_id ORDER BY seq))::bigint AS running
         FROM billing_entries) x WHERE running <> balance_after_micros`,
      (r) => `${r.customer_id} entry ${r.entry_id} says ${r.balance_after_micros}, running sum is ${r.running}`,
    );
    await check(
      "hold without its matching debit",
      `SELECT h.request_id FROM billing_holds h JOIN billing_entries e ON e.entry_id = h.debit_entry_id
       WHERE e.amount_micros <> -h.amount_micros OR e.customer_id <> h.customer_id OR e.request_id <> h.request_id`,
      (r) => String(r.request_id),
    );
    await check(
      "settlement does not add up",
      `SELECT s.request_id FROM billing_settlements s JOIN billing_holds h USING (request_id)
       LEFT JOIN billing_entries e ON e.entry_id = s.refund_entry_id
       WHERE s.captured_micros + s.released_micros <> h.amount_micros
          OR (s.refund_entry_id IS NOT NULL AND (e.amount_micros <> s.released_micros OR e.request_id <> s.request_id))`,
      (r) => String(r.request_id),
    );
    await check(
      "open-hold index out of step",
      `SELECT h.request_id FROM billing_holds h
       WHERE EXISTS (SELECT 1 FROM billing_settlements s WHERE s.request_id = h.request_id)
           = EXISTS (SELECT 1 FROM billing_open_holds o WHERE o.request_id = h.request_id)`,
      (r) => String(r.request_id),
    );
    await check(
      "customer seq behind its entries",
      `SELECT c.customer_id FROM billing_customers c JOIN billing_entries e USING (customer_id) GROUP BY c.customer_id, c.seq HAVING max(e.seq) > c.seq`,
      (r) => String(r.customer_id),
    );
    return problems;
  }
}
