// The 402 says how to get credits on THIS server: the top-up endpoint where Stripe is configured, the
// operator's grant command where it is not (there the endpoint answers 412 TOPUPS_NOT_CONFIGURED).
import assert from "node:assert/strict";
import { billingPort } from "../../src/app/billing";
import type { BillingService } from "../../src/billing";
import { NotConfiguredTopups, type Topups } from "../../src/billing/stripe";
import { insufficientCredits } from "../../src/billing/views";
import { ServiceError } from "../../src/core/errors";
import { Metrics } from "../../src/observability/metrics";

const account = { customerId: "cus_local_abc", keyId: "key_1", rateLimit: { ratePerS: 10, burst: 10 } };
// The balance gate refuses (the common case), or the ledger's own check refuses the record behind it.
const shortAtGate = { reserveGated: async () => Promise.reject(insufficientCredits(150_000, 2_450_000)) } as unknown as BillingService;
const shortAtRecord = { reserveGated: async () => ({ recorded: Promise.reject(insufficientCredits(150_000, 2_450_000)) }) } as unknown as BillingService;

async function reserveError(topups: Topups, shortBilling = shortAtGate): Promise<ServiceError> {
  const port = billingPort(shortBilling, topups, 60_000, new Metrics(() => []));
  const err = await port.reserve(account, "req-1", 2_450_000).then(
    () => assert.fail("reserve should refuse"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ServiceError);
  return err;
}

describe("app/billing: the 402's top-up advice", () => {
  it("without Stripe: names the operator's grant command for this customer, not the 412 endpoint", async () => {
    const err = await reserveError(new NotConfiguredTopups());
    assert.equal(err.reason, "INSUFFICIENT_CREDITS");
    assert.equal(err.http, 402);
    assert.match(err.message, /^insufficient credits: balance \$0\.15, this request costs \$2\.45; /);
    assert.ok(err.message.includes("dream-engine credits grant cus_local_abc <usd>"), err.message);
    assert.ok(!err.message.includes("/v1/billing/topup"), err.message);
    assert.deepEqual(err.details, insufficientCredits(150_000, 2_450_000).details);
  });

  it("the same advice when the ledger's record refuses behind the gate", async () => {
    const err = await reserveError(new NotConfiguredTopups(), shortAtRecord);
    assert.equal(err.http, 402);
    assert.ok(err.message.includes("dream-engine credits grant cus_local_abc <usd>"), err.message);
  });

  it("with Stripe: points at POST /v1/billing/topup", async () => {
    const stripe = { configured: true } as unknown as Topups;
    const err = await reserveError(stripe);
    assert.equal(err.http, 402);
    assert.match(err.message, /; top up with POST \/v1\/billing\/topup$/);
  });
});
