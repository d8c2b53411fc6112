// One behavioural contract for every Ledger implementation (PGlite and node-postgres run it alike).
import assert from "node:assert/strict";
import { AssertionError } from "../../src/core/assert";
import { LedgerConflictError, LedgerNotFoundError, type Ledger } from "../../src/billing/ledger/ledger";
import type { LedgerBackend } from "../../src/billing/ledger/open";

const AT = 1_700_000_000_000;
const FRAME = 500;
const ROLLOUT = 49 * FRAME; // 24,500 micro-USD

export function ledgerConformance(open: () => Promise<LedgerBackend>): void {
  let backend: LedgerBackend;
  let ledger: Ledger;
  let n = 0;
  const customer = async (grantMicros = 0): Promise<string> => {
    const id = `cus_t${++n}_${Math.random().toString(36).slice(2, 8)}`;
    await ledger.ensureCustomer(id, AT);
    if (grantMicros > 0) await ledger.credit({ kind: "grant", customerId: id, amountMicros: grantMicros, grantKey: `g-${id}`, description: "starter", atMs: AT });
    return id;
  };

  before(async function () {
    backend = await open();
    ledger = backend.ledger;
  });
  after(async () => backend?.close());

  it("migrations are idempotent", async () => {
    assert.deepEqual(await backend.migrate(), []);
  });

  it("grants once per grant key; a reused key with another amount is a conflict", async () => {
    const c = await customer();
    const first = await ledger.credit({ kind: "grant", customerId: c, amountMicros: 5_000_000, grantKey: `k-${c}`, description: "hello", atMs: AT });
    const again = await ledger.credit({ kind: "grant", customerId: c, amountMicros: 5_000_000, grantKey: `k-${c}`, description: "hello", atMs: AT });
    assert.equal(first.created, true);
    assert.equal(again.created, false);
    assert.equal(again.entry.entryId, first.entry.entryId);
    assert.equal((await ledger.balance(c)).balanceMicros, 5_000_000);
    await assert.rejects(ledger.credit({ kind: "grant", customerId: c, amountMicros: 1, grantKey: `k-${c}`, description: "", atMs: AT }), LedgerConflictError);
  });

  it("credits a Stripe session exactly once, whatever event redelivers it", async () => {
    const c = await customer();
    const session = `cs_test_${c}`;
    const a = await ledger.credit({ kind: "topup", customerId: c, amountMicros: 25_000_000, stripeSessionId: session, stripeEventId: `evt_1_${c}`, description: "top-up", atMs: AT });
    const b = await ledger.credit({ kind: "topup", customerId: c, amountMicros: 25_000_000, stripeSessionId: session, stripeEventId: `evt_2_${c}`, description: "top-up", atMs: AT });
    const d = await ledger.credit({ kind: "topup", customerId: c, amountMicros: 25_000_000, stripeSessionId: session, stripeEventId: `evt_1_${c}`, description: "top-up", atMs: AT });
    assert.deepEqual([a.created, b.created, d.created], [true, false, false]);
    assert.equal((await ledger.balance(c)).balanceMicros, 25_000_000);
  });

  it("refuses to credit an unknown customer", async () => {
    await assert.rejects(ledger.credit({ kind: "grant", customerId: "cus_nobody", amountMicros: 1, grantKey: "nobody", description: "", atMs: AT }), LedgerNotFoundError);
  });

  it("holds by debiting at once, idempotently per request id, and never overdraws", async () => {
    const c = await customer(2 * ROLLOUT);
    const h1 = await ledger.hold({ customerId: c, requestId: `r1-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT + 60_000, atMs: AT });
    assert.equal(h1.status, "held");
    assert.equal(h1.status === "held" && h1.created, true);
    assert.equal(h1.status === "held" && h1.balanceMicros, ROLLOUT);
    const again = await ledger.hold({ customerId: c, requestId: `r1-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT + 60_000, atMs: AT });
    assert.equal(again.status === "held" && again.created, false);
    await assert.rejects(ledger.hold({ customerId: c, requestId: `r1-${c}`, amountMicros: 1, expiresAtMs: AT, atMs: AT }), LedgerConflictError);
    const h2 = await ledger.hold({ customerId: c, requestId: `r2-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT + 60_000, atMs: AT });
    assert.equal(h2.status === "held" && h2.balanceMicros, 0); // exactly the balance is fine
    const short = await ledger.hold({ customerId: c, requestId: `r3-${c}`, amountMicros: 1, expiresAtMs: AT + 60_000, atMs: AT });
    assert.deepEqual(short, { status: "insufficient", balanceMicros: 0 });
    assert.equal(await ledger.holdStatus(`r3-${c}`), null);
    assert.deepEqual(await ledger.balance(c), { balanceMicros: 0, heldMicros: 2 * ROLLOUT, seq: 3 });
    await assert.rejects(ledger.hold({ customerId: "cus_nobody", requestId: `r4-${c}`, amountMicros: 1, expiresAtMs: AT, atMs: AT }), LedgerNotFoundError);
  });

  it("settles once: the first of post/void/expire wins and later calls return it", async () => {
    const c = await customer(ROLLOUT);
    const r = `post-${c}`;
    await ledger.hold({ customerId: c, requestId: r, amountMicros: ROLLOUT, expiresAtMs: AT + 1, atMs: AT });
    const posted = await ledger.settle({ requestId: r, outcome: "posted", capturedMicros: 40 * FRAME, atMs: AT + 5 });
    assert.ok(posted);
    assert.equal(posted.created, true);
    assert.equal(posted.settlement.capturedMicros, 20_000);
    assert.equal(posted.settlement.releasedMicros, 4_500);
    const voided = await ledger.settle({ requestId: r, outcome: "voided", capturedMicros: 0, atMs: AT + 6 });
    assert.equal(voided?.created, false);
    assert.equal(voided?.settlement.outcome, "posted");
    assert.deepEqual(await ledger.balance(c), { balanceMicros: 4_500, heldMicros: 0, seq: 3 });
    assert.equal(await ledger.settle({ requestId: "no-such-request", outcome: "voided", capturedMicros: 0, atMs: AT }), null);
  });

  it("void and expiry refund the whole hold; a full post refunds nothing but still bumps seq", async () => {
    const c = await customer(3 * ROLLOUT);
    for (const r of ["v", "e", "p"]) await ledger.hold({ customerId: c, requestId: `${r}-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT + 10, atMs: AT });
    const v = await ledger.settle({ requestId: `v-${c}`, outcome: "voided", capturedMicros: 0, atMs: AT });
    const e = await ledger.settle({ requestId: `e-${c}`, outcome: "expired", capturedMicros: 0, atMs: AT });
    const p = await ledger.settle({ requestId: `p-${c}`, outcome: "posted", capturedMicros: ROLLOUT, atMs: AT });
    assert.equal(v?.settlement.releasedMicros, ROLLOUT);
    assert.equal(e?.settlement.releasedMicros, ROLLOUT);
    assert.equal(p?.settlement.releasedMicros, 0);
    assert.equal(p?.settlement.settleSeq, 7);
    assert.deepEqual(await ledger.balance(c), { balanceMicros: 2 * ROLLOUT, heldMicros: 0, seq: 7 });
  });

  it("asserts a capture larger than the hold (a caller bug, not a user error)", async () => {
    const c = await customer(ROLLOUT);
    await ledger.hold({ customerId: c, requestId: `big-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT, atMs: AT });
    await assert.rejects(ledger.settle({ requestId: `big-${c}`, outcome: "posted", capturedMicros: ROLLOUT + 1, atMs: AT }), AssertionError);
    assert.equal((await ledger.holdStatus(`big-${c}`))?.settlement, null);
  });

  it("lists unsettled expired holds oldest first", async () => {
    const c = await customer(3 * ROLLOUT);
    const base = AT + 10_000_000 + n * 1000;
    await ledger.hold({ customerId: c, requestId: `x2-${c}`, amountMicros: ROLLOUT, expiresAtMs: base + 2, atMs: AT });
    await ledger.hold({ customerId: c, requestId: `x1-${c}`, amountMicros: ROLLOUT, expiresAtMs: base + 1, atMs: AT });
    await ledger.hold({ customerId: c, requestId: `x3-${c}`, amountMicros: ROLLOUT, expiresAtMs: base + 3, atMs: AT });
    await ledger.settle({ requestId: `x1-${c}`, outcome: "voided", capturedMicros: 0, atMs: AT });
    const mine = (await ledger.expiredHolds(base + 2, 1000)).filter((h) => h.customerId === c).map((h) => h.requestId);
    assert.deepEqual(mine, [`x2-${c}`]);
  });

  it("renews unsettled holds only, never to an earlier expiry, and a rebuild snapshot sees the renewed expiry", async () => {
    const c = await customer(3 * ROLLOUT);
    const base = AT + 20_000_000 + n * 1000;
    const [a, b, s] = [`rn-a-${c}`, `rn-b-${c}`, `rn-s-${c}`];
    for (const r of [a, b, s]) await ledger.hold({ customerId: c, requestId: r, amountMicros: ROLLOUT, expiresAtMs: base + 10, atMs: AT });
    await ledger.settle({ requestId: s, outcome: "voided", capturedMicros: 0, atMs: AT });
    assert.equal(await ledger.renewHolds([a, s, `rn-unknown-${c}`], base + 500), 1);
    assert.equal(await ledger.renewHolds([a], base + 100), 1); // matched, but the expiry stays at base + 500
    const expired = (at: number) => ledger.expiredHolds(at, 1000).then((hs) => hs.filter((h) => h.customerId === c).map((h) => [h.requestId, h.expiresAtMs]));
    assert.deepEqual(await expired(base + 499), [[b, base + 10]]);
    assert.deepEqual(await expired(base + 500), [[b, base + 10], [a, base + 500]]);
    const snap = await ledger.withSnapshot([c], async (x) => x);
    assert.deepEqual(snap[0]!.openHolds.map((h) => [h.requestId, h.expiresAtMs]).sort(), [[a, base + 500], [b, base + 10]]);
    assert.deepEqual(await ledger.verify(), []);
  });

  it("lists transactions newest first with signed amounts, running balance and request ids", async () => {
    const c = await customer(100_000);
    await ledger.hold({ customerId: c, requestId: `t-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT, atMs: AT + 1 });
    await ledger.settle({ requestId: `t-${c}`, outcome: "posted", capturedMicros: 48 * FRAME, atMs: AT + 2 });
    const txs = await ledger.transactions(c, 10);
    assert.deepEqual(
      txs.map((t) => [t.kind, t.amountMicros, t.balanceAfterMicros, t.requestId]),
      [
        ["refund", 500, 76_000, `t-${c}`],
        ["debit", -ROLLOUT, 75_500, `t-${c}`],
        ["grant", 100_000, 100_000, null],
      ],
    );
    assert.equal((await ledger.transactions(c, 1)).length, 1);
  });

  it("snapshots balances, seqs and open holds", async () => {
    const c = await customer(ROLLOUT * 2);
    await ledger.hold({ customerId: c, requestId: `s-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT + 7, atMs: AT });
    const snap = await ledger.withSnapshot([c], async (s) => s);
    assert.equal(snap.length, 1);
    assert.equal(snap[0]!.balanceMicros, ROLLOUT);
    assert.equal(snap[0]!.seq, 2);
    assert.deepEqual(
      snap[0]!.openHolds.map((h) => [h.requestId, h.amountMicros, h.expiresAtMs, h.holdSeq]),
      [[`s-${c}`, ROLLOUT, AT + 7, 2]],
    );
    const all = await ledger.withSnapshot(null, async (s) => s);
    assert.ok(all.some((x) => x.customerId === c));
  });

  it("conserves money: granted + topped up = balance + captured + held, and verify() is clean", async () => {
    const c = await customer(1_000_000);
    await ledger.credit({ kind: "topup", customerId: c, amountMicros: 5_000_000, stripeSessionId: `cs_c_${c}`, stripeEventId: null, description: "", atMs: AT });
    await ledger.hold({ customerId: c, requestId: `c1-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT, atMs: AT });
    await ledger.hold({ customerId: c, requestId: `c2-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT, atMs: AT });
    await ledger.settle({ requestId: `c1-${c}`, outcome: "posted", capturedMicros: 10 * FRAME, atMs: AT });
    const t = await ledger.totals(c);
    assert.deepEqual(t, { grantedMicros: 1_000_000, toppedUpMicros: 5_000_000, capturedMicros: 5_000, heldMicros: ROLLOUT, balanceMicros: 6_000_000 - 5_000 - ROLLOUT });
    const all = await ledger.totals();
    assert.equal(all.grantedMicros + all.toppedUpMicros, all.balanceMicros + all.capturedMicros + all.heldMicros);
    assert.deepEqual(await ledger.verify(), []);
  });

  it("keeps money tables append-only", async () => {
    const c = await customer(1);
    await assert.rejects(backend.driver.query("UPDATE billing_entries SET amount_micros = 2 WHERE customer_id = $1", [c]), /append-only/);
    await assert.rejects(backend.driver.query("DELETE FROM billing_entries WHERE customer_id = $1", [c]), /append-only/);
    await assert.rejects(backend.driver.query("UPDATE billing_customers SET balance_micros = -1 WHERE customer_id = $1", [c]), /billing_balance_nonnegative/);
  });

  it("verify() reports a tampered balance", async () => {
    const c = await customer(1000);
    await backend.driver.query("UPDATE billing_customers SET balance_micros = 999 WHERE customer_id = $1", [c]);
    const problems = await ledger.verify();
    assert.ok(problems.some((p) => p.includes(c)), problems.join("\n"));
    await backend.driver.query("UPDATE billing_customers SET balance_micros = 1000 WHERE customer_id = $1", [c]);
  });

  it("50 concurrent holds on a balance covering exactly 20: 20 held, 30 insufficient, balance 0", async () => {
    const c = await customer(20 * ROLLOUT);
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => ledger.hold({ customerId: c, requestId: `cc${i}-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT, atMs: AT })));
    assert.equal(results.filter((r) => r.status === "held").length, 20);
    assert.equal(results.filter((r) => r.status === "insufficient").length, 30);
    assert.deepEqual(await ledger.balance(c), { balanceMicros: 0, heldMicros: 20 * ROLLOUT, seq: 21 });
  });

  it("concurrent duplicates: one hold per request id, one outcome per hold", async () => {
    const c = await customer(10 * ROLLOUT);
    const holds = await Promise.all(Array.from({ length: 8 }, () => ledger.hold({ customerId: c, requestId: `dup-${c}`, amountMicros: ROLLOUT, expiresAtMs: AT, atMs: AT })));
    assert.equal(holds.filter((h) => h.status === "held" && h.created).length, 1);
    const settles = await Promise.all([
      ledger.settle({ requestId: `dup-${c}`, outcome: "posted", capturedMicros: ROLLOUT, atMs: AT }),
      ledger.settle({ requestId: `dup-${c}`, outcome: "voided", capturedMicros: 0, atMs: AT }),
      ledger.settle({ requestId: `dup-${c}`, outcome: "expired", capturedMicros: 0, atMs: AT }),
    ]);
    assert.equal(settles.filter((s) => s?.created).length, 1);
    const outcome = settles.find((s) => s?.created)!.settlement.outcome;
    assert.ok(settles.every((s) => s?.settlement.outcome === outcome));
    const b = await ledger.balance(c);
    assert.equal(b.balanceMicros, outcome === "posted" ? 9 * ROLLOUT : 10 * ROLLOUT);
    assert.deepEqual(await ledger.verify(), []);
  });
}
