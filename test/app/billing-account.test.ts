// The Stripe customer id travels on the service's Account as a value (paymentCustomerId), from
// authenticate to createTopup; nothing is remembered on the side.
import assert from "node:assert/strict";
import { billingPort } from "../../src/app/billing";
import type { BillingService } from "../../src/billing";
import type { Topups } from "../../src/billing/stripe";
import { Metrics } from "../../src/observability/metrics";

function port(stripeCustomerId: string | null, seen: unknown[]) {
  const billing = { authenticate: async () => ({ customerId: "cus_local_1", keyId: "key_1", rateLimit: { ratePerS: 10, burst: 10 }, stripeCustomerId }) } as unknown as BillingService;
  const topups = {
    configured: true,
    createTopup: async (req: unknown) => {
      seen.push(req);
      return { sessionId: "cs_1", url: "https://checkout.example/cs_1", amountCents: 2500, amountUsd: 25, customerId: "cus_local_1" };
    },
  } as unknown as Topups;
  return billingPort(billing, topups, 60_000, new Metrics(() => []));
}

describe("app/billing: the Account carries the payment customer", () => {
  it("a key whose customer has a Stripe id tops up as that Stripe customer", async () => {
    const seen: unknown[] = [];
    const p = port("cus_Stripe123", seen);
    const account = await p.authenticate("dre_x");
    assert.equal(account.paymentCustomerId, "cus_Stripe123");
    await p.createTopup(account, 25);
    assert.deepEqual(seen, [{ customerId: "cus_local_1", stripeCustomerId: "cus_Stripe123", amountUsd: 25 }]);
  });

  it("a customer without one gets none (Checkout creates it), and a copied Account works the same", async () => {
    const seen: unknown[] = [];
    const p = port(null, seen);
    const account = await p.authenticate("dre_x");
    assert.equal("paymentCustomerId" in account, false);
    await p.createTopup({ ...account }, 30);
    assert.deepEqual(seen, [{ customerId: "cus_local_1", stripeCustomerId: undefined, amountUsd: 30 }]);
  });
});
