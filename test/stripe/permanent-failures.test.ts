// Signed webhooks that can never be applied (the customer does not exist) are acknowledged, so Stripe
// stops redelivering a permanent failure for days; a transient failure (the ledger down) still answers
// 5xx so Stripe retries. Real `stripe` signing, a real BillingService (embedded ledger) as creditor.
import { strict as assert } from "node:assert";
import { StripeTopups, type TopupCreditor } from "../../src/billing/stripe";
import { LedgerUnavailableError } from "../../src/billing/ledger/ledger";
import { startFakeStripeServer, type FakeStripeServer } from "../fakes/fake-stripe-server";
import { openBilling, type BillingFixture } from "../billing/helpers/billing";
import { checkoutEventPayload, signed } from "./events";

const SECRET_KEY = "sk_test_dreamengine_fake";
const WEBHOOK_SECRET = "whsec_test_dreamengine";

interface LogLine {
  level: "warn" | "error";
  fields: Record<string, unknown>;
  message: string;
}

describe("Stripe webhooks: permanent vs transient failures (real billing as creditor)", () => {
  let fake: FakeStripeServer;
  let f: BillingFixture;
  let logs: LogLine[];
  let ledgerDown: boolean;

  const topupsFor = (creditor: TopupCreditor): StripeTopups =>
    new StripeTopups(
      {
        secretKey: SECRET_KEY,
        webhookSecret: WEBHOOK_SECRET,
        successUrl: "https://dream.example/done",
        cancelUrl: "https://dream.example/cancelled",
        client: { ...fake.clientOptions, maxNetworkRetries: 0 },
        logger: {
          warn: (fields, message) => logs.push({ level: "warn", fields, message }),
          error: (fields, message) => logs.push({ level: "error", fields, message }),
        },
      },
      creditor,
    );

  before(async () => {
    fake = await startFakeStripeServer();
  });
  after(() => fake.close());
  beforeEach(async () => {
    f = await openBilling({ kind: "memory" });
    logs = [];
    ledgerDown = false;
  });
  afterEach(() => f.close());

  /** The billing service, or a ledger outage while `ledgerDown`. */
  const creditor = (): TopupCreditor => ({
    creditTopup: (...args) => (ledgerDown ? Promise.reject(new LedgerUnavailableError("simulated outage")) : f.billing.creditTopup(...args)),
  });

  async function paidEvent(topups: StripeTopups, customerId: string): Promise<string> {
    const created = await topups.createTopup({ customerId, amountUsd: 25 });
    return checkoutEventPayload("checkout.session.completed", fake.completeSession(created.sessionId));
  }

  it("an unknown customer is acknowledged (2xx, not credited, with a reason) and logged at warn, every delivery", async () => {
    const topups = topupsFor(creditor());
    const payload = await paidEvent(topups, "cus_does_not_exist");
    for (let delivery = 0; delivery < 2; delivery++) {
      const { body, header } = signed(payload, WEBHOOK_SECRET);
      const answer = await topups.handleWebhook(body, header);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.equal(answer.body.credited, false);
      assert.match(String(answer.body.not_applied), /unknown customer/);
    }
    assert.equal(logs.length, 2);
    assert.ok(logs.every((l) => l.level === "warn" && /never be applied/.test(l.message)), JSON.stringify(logs));
  });

  it("a ledger outage still answers 5xx so Stripe retries, and the retry credits once", async () => {
    const { customerId } = await f.billing.createKey({ name: "webhook", creditsMicros: 0 });
    const topups = topupsFor(creditor());
    const payload = await paidEvent(topups, customerId);
    ledgerDown = true;
    const first = signed(payload, WEBHOOK_SECRET);
    const failed = await topups.handleWebhook(first.body, first.header);
    assert.ok(failed.status >= 500, `status ${failed.status}`);
    assert.equal((await f.billing.balance(customerId)).balanceMicros, 0);
    ledgerDown = false;
    const again = signed(payload, WEBHOOK_SECRET);
    const retried = await topups.handleWebhook(again.body, again.header);
    assert.equal(retried.status, 200);
    assert.equal(retried.body.credited, true);
    assert.equal((await f.billing.balance(customerId)).balanceMicros, 25_000_000);
  });
});
