// Stripe top-ups end to end against the REAL `stripe` package: sessions are created on a local fake
// Stripe API, and webhooks are real signed events verified over their raw bytes.
import { strict as assert } from "node:assert";
import { createTopups, StripeTopups, TOPUPS_NOT_CONFIGURED_MESSAGE, TopupsConfigError, type TopupCreditor } from "../../src/billing/stripe";
import { Code, ServiceError } from "../../src/core/errors";
import { startFakeStripeServer, type FakeStripeServer } from "../fakes/fake-stripe-server";
import { checkoutEventPayload, randomEventId, signed } from "./events";
import { InMemoryTopupCreditor } from "./memory-creditor";

const SECRET_KEY = "sk_test_dreamengine_fake";
const WEBHOOK_SECRET = "whsec_test_dreamengine";
const CUSTOMER = "cus_local_42";

async function rejection(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ServiceError, `expected a ServiceError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected a rejection");
}

describe("Stripe top-ups", () => {
  let fake: FakeStripeServer;
  let creditor: InMemoryTopupCreditor;
  let topups: StripeTopups;

  const makeTopups = (c: TopupCreditor): StripeTopups =>
    new StripeTopups(
      {
        secretKey: SECRET_KEY,
        webhookSecret: WEBHOOK_SECRET,
        successUrl: "https://dream.example/billing/done?session_id={CHECKOUT_SESSION_ID}",
        cancelUrl: "https://dream.example/billing/cancelled",
        client: { ...fake.clientOptions, maxNetworkRetries: 0 },
      },
      c,
    );

  before(async () => {
    fake = await startFakeStripeServer();
  });
  after(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
    creditor = new InMemoryTopupCreditor();
    topups = makeTopups(creditor);
  });

  /** Creates a session through the fake Stripe, as POST /v1/billing/topup would, then "pays" it. */
  async function paidSession(amountUsd = 25) {
    const created = await topups.createTopup({ customerId: CUSTOMER, amountUsd });
    return fake.completeSession(created.sessionId);
  }

  async function deliver(payload: string, secret = WEBHOOK_SECRET) {
    const { body, header } = signed(payload, secret);
    return topups.handleWebhook(body, header);
  }

  describe("createTopup", () => {
    it("rejects amounts outside $5…$10,000 with INVALID_ARGUMENT naming amount_usd, expected vs given", async () => {
      for (const amountUsd of [4.99, 10000.01, 0, -5, 1e9]) {
        const err = await rejection(topups.createTopup({ customerId: CUSTOMER, amountUsd }));
        assert.equal(err.reason, "INVALID_ARGUMENT");
        assert.equal(err.http, 400);
        assert.equal(err.details.field, "amount_usd");
        assert.equal(err.details.given, String(amountUsd));
        assert.match(err.message, new RegExp(`^amount_usd: expected between 5 and 10000 USD, got ${String(amountUsd).replace(".", "\\.")}$`));
      }
      assert.equal(fake.requests.length, 0, "nothing reaches Stripe for a bad amount");
    });

    it("rejects sub-cent precision and non-numbers", async () => {
      const precise = await rejection(topups.createTopup({ customerId: CUSTOMER, amountUsd: 5.001 }));
      assert.match(precise.message, /^amount_usd: expected at most 2 decimal places \(whole cents\), got 5\.001$/);
      for (const bad of ["25", Number.NaN, Infinity, null]) {
        const err = await rejection(topups.createTopup({ customerId: CUSTOMER, amountUsd: bad as number }));
        assert.equal(err.details.field, "amount_usd");
      }
      assert.equal(fake.requests.length, 0);
    });

    it("accepts the bounds exactly ($5 and $10,000) and cent amounts like 19.99", async () => {
      const low = await topups.createTopup({ customerId: CUSTOMER, amountUsd: 5 });
      assert.deepEqual([low.amountCents, low.amountUsd], [500, 5]);
      const high = await topups.createTopup({ customerId: CUSTOMER, amountUsd: 10000 });
      assert.deepEqual([high.amountCents, high.amountUsd], [1_000_000, 10000]);
      const odd = await topups.createTopup({ customerId: CUSTOMER, amountUsd: 19.99 });
      assert.equal(odd.amountCents, 1999);
      assert.equal(fake.sessions.get(odd.sessionId)?.amount_total, 1999);
    });

    it("sends Stripe a one-time payment session for the amount, tied to the customer", async () => {
      const result = await topups.createTopup({ customerId: CUSTOMER, amountUsd: 25, idempotencyKey: "req-123" });
      assert.match(result.sessionId, /^cs_test_/);
      assert.equal(result.url, `https://checkout.stripe.com/c/pay/${result.sessionId}`);
      assert.deepEqual({ ...result, sessionId: "", url: "" }, { sessionId: "", url: "", amountCents: 2500, amountUsd: 25, customerId: CUSTOMER });

      assert.equal(fake.requests.length, 1);
      const request = fake.requests[0];
      assert.equal(request.method, "POST");
      assert.equal(request.path, "/v1/checkout/sessions");
      assert.equal(request.headers.authorization, `Bearer ${SECRET_KEY}`);
      assert.equal(request.headers["idempotency-key"], `topup:${CUSTOMER}:req-123`);
      assert.match(String(request.headers["content-type"]), /^application\/x-www-form-urlencoded/);
      assert.deepEqual(request.form, {
        mode: "payment",
        line_items: [
          {
            quantity: "1",
            price_data: {
              currency: "usd",
              unit_amount: "2500",
              product_data: { name: "Dream Engine credits", description: "$25.00 of prepaid inference credit" },
            },
          },
        ],
        client_reference_id: CUSTOMER,
        metadata: { customer_id: CUSTOMER, amount_micros: "25000000" },
        success_url: "https://dream.example/billing/done?session_id={CHECKOUT_SESSION_ID}",
        cancel_url: "https://dream.example/billing/cancelled",
      });
    });

    it("passes the Stripe customer when one exists", async () => {
      await topups.createTopup({ customerId: CUSTOMER, stripeCustomerId: "cus_Stripe123", amountUsd: 50 });
      assert.equal((fake.requests[0].form as Record<string, unknown>).customer, "cus_Stripe123");
    });

    it("maps Stripe outages to UNAVAILABLE and our own misconfiguration to INTERNAL", async () => {
      fake.failNext(500, { type: "api_error", message: "boom" });
      const outage = await rejection(topups.createTopup({ customerId: CUSTOMER, amountUsd: 25 }));
      assert.equal(outage.reason, "UNAVAILABLE");
      assert.equal(outage.retryable, true);

      fake.failNext(400, { type: "invalid_request_error", message: "No such customer: 'cus_x'" });
      const broken = await rejection(topups.createTopup({ customerId: CUSTOMER, stripeCustomerId: "cus_x", amountUsd: 25 }));
      assert.equal(broken.reason, "INTERNAL");
      assert.doesNotMatch(broken.message, /cus_x/, "Stripe's account details stay server-side");

      const wrongKey = new StripeTopups(
        { secretKey: "rk_wrong", webhookSecret: WEBHOOK_SECRET, successUrl: "https://x/s", cancelUrl: "https://x/c", client: { ...fake.clientOptions, maxNetworkRetries: 0 } },
        creditor,
      );
      assert.equal((await rejection(wrongKey.createTopup({ customerId: CUSTOMER, amountUsd: 25 }))).reason, "INTERNAL");
    });
  });

  describe("handleWebhook", () => {
    it("credits a signed checkout.session.completed (paid) exactly once, for amount_total in micros", async () => {
      const session = await paidSession(25);
      const response = await deliver(checkoutEventPayload("checkout.session.completed", session));
      assert.deepEqual(response, { status: 200, body: { received: true, credited: true, duplicate: false, session_id: session.id } });
      assert.deepEqual(creditor.credits.map((c) => [c.customerId, c.amountMicros, c.sessionId]), [[CUSTOMER, 25_000_000, session.id]]);
    });

    it("a redelivered event (same id, same bytes, fresh signature) is acknowledged but not credited again", async () => {
      const session = await paidSession();
      const payload = checkoutEventPayload("checkout.session.completed", session);
      for (let i = 0; i < 3; i++) {
        const response = await deliver(payload);
        assert.equal(response.status, 200);
        assert.equal(response.body.credited, i === 0);
      }
      assert.equal(creditor.credits.length, 1);
      assert.equal(creditor.balanceMicros(CUSTOMER), 25_000_000);
    });

    it("async_payment_succeeded after completed (a different event for the same session) credits nothing more", async () => {
      const session = await paidSession();
      await deliver(checkoutEventPayload("checkout.session.completed", session));
      const second = await deliver(checkoutEventPayload("checkout.session.async_payment_succeeded", session));
      assert.equal(second.status, 200);
      assert.equal(second.body.duplicate, true);
      assert.equal(creditor.credits.length, 1);
    });

    it("a delayed payment: completed-unpaid credits nothing, async_payment_succeeded credits once", async () => {
      const session = await paidSession(100);
      const unpaid = await deliver(checkoutEventPayload("checkout.session.completed", session, { paymentStatus: "unpaid" }));
      assert.equal(unpaid.status, 200);
      assert.equal(unpaid.body.credited, false);
      assert.match(String(unpaid.body.ignored), /payment_status is unpaid/);
      assert.equal(creditor.credits.length, 0);

      const succeeded = await deliver(checkoutEventPayload("checkout.session.async_payment_succeeded", session));
      assert.equal(succeeded.body.credited, true);
      assert.equal(creditor.balanceMicros(CUSTOMER), 100_000_000);
    });

    it("a tampered body, a wrong secret, a missing or stale signature → 400 and no credit", async () => {
      const session = await paidSession();
      const payload = checkoutEventPayload("checkout.session.completed", session);
      const { header } = signed(payload, WEBHOOK_SECRET);
      const tampered = payload.replace('"amount_total":2500', '"amount_total":250000');
      assert.notEqual(tampered, payload);
      const stale = signed(payload, WEBHOOK_SECRET, Math.floor(Date.now() / 1000) - 3600); // beyond Stripe's 300 s tolerance
      const cases = [
        await topups.handleWebhook(Buffer.from(tampered), header),
        await deliver(payload, "whsec_someone_else"),
        await topups.handleWebhook(Buffer.from(payload), undefined),
        await topups.handleWebhook(Buffer.from(payload), "t=1,v1=deadbeef"),
        await topups.handleWebhook(stale.body, stale.header),
      ];
      for (const response of cases) {
        assert.equal(response.status, 400);
        const error = response.body.error as { reason: string; code: string; message: string };
        assert.equal(error.reason, "INVALID_ARGUMENT");
        assert.equal(error.code, "INVALID_ARGUMENT");
        assert.match(error.message, /^stripe-signature: /);
      }
      assert.equal(creditor.calls, 0);
    });

    it("verifies the raw bytes: the same event re-serialized (e.g. parsed and re-stringified) fails", async () => {
      const session = await paidSession();
      const payload = checkoutEventPayload("checkout.session.completed", session);
      const { header } = signed(payload, WEBHOOK_SECRET);
      const reserialized = Buffer.from(JSON.stringify(JSON.parse(payload), null, 2));
      assert.equal((await topups.handleWebhook(reserialized, header)).status, 400);
      assert.equal(creditor.calls, 0);
    });

    it("answers 200 to event types it ignores, and to sessions that are not top-ups", async () => {
      const session = await paidSession();
      for (const type of ["checkout.session.expired", "checkout.session.async_payment_failed", "payment_intent.succeeded", "customer.created"]) {
        const response = await deliver(checkoutEventPayload(type, session));
        assert.equal(response.status, 200, type);
        assert.equal(response.body.credited, false);
        assert.match(String(response.body.ignored), new RegExp(type.replace(/\./g, "\\.")));
      }
      const foreign = await deliver(checkoutEventPayload("checkout.session.completed", session, { session: { metadata: {} } }));
      assert.equal(foreign.status, 200);
      assert.match(String(foreign.body.ignored), /no metadata\.customer_id/);
      assert.equal(creditor.calls, 0);
    });

    it("a session whose amount_total disagrees with its metadata is not credited and stays visible (422)", async () => {
      const session = await paidSession(25);
      const cases = [
        { amount_total: 2000 },
        { currency: "eur" },
        { client_reference_id: "cus_someone_else" },
        { metadata: { customer_id: CUSTOMER, amount_micros: "1" } },
        { mode: "subscription" },
      ];
      for (const overrides of cases) {
        const response = await deliver(checkoutEventPayload("checkout.session.completed", session, { session: overrides }));
        assert.equal(response.status, 422, JSON.stringify(overrides));
        assert.match((response.body.error as { message: string }).message, /^not credited: /);
      }
      // async_payment_succeeded always means paid; an unpaid one is inconsistent, not "wait".
      const odd = await deliver(checkoutEventPayload("checkout.session.async_payment_succeeded", session, { paymentStatus: "unpaid" }));
      assert.equal(odd.status, 422);
      assert.equal(creditor.calls, 0);
    });

    it("a creditor failure answers 500 so Stripe retries; the retry credits once", async () => {
      const session = await paidSession();
      const payload = checkoutEventPayload("checkout.session.completed", session);
      creditor.failNext();
      const failed = await deliver(payload);
      assert.equal(failed.status, 500);
      assert.equal((failed.body.error as { reason: string }).reason, "INTERNAL");
      assert.equal(creditor.credits.length, 0);
      const retried = await deliver(payload);
      assert.equal(retried.status, 200);
      assert.equal(retried.body.credited, true);
      assert.equal((await deliver(payload)).body.credited, false);
      assert.equal(creditor.credits.length, 1);
    });

    it("concurrent redeliveries in one process share a single creditor call", async () => {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      const slow = new InMemoryTopupCreditor();
      const gated: TopupCreditor = {
        creditTopup: async (...args) => {
          await gate;
          return slow.creditTopup(...args);
        },
      };
      const gatedTopups = makeTopups(gated);
      const session = await paidSession();
      const payload = checkoutEventPayload("checkout.session.completed", session, { id: randomEventId() });
      const deliveries = Array.from({ length: 5 }, () => {
        const { body, header } = signed(payload, WEBHOOK_SECRET);
        return gatedTopups.handleWebhook(body, header);
      });
      release();
      const responses = await Promise.all(deliveries);
      assert.deepEqual(responses.map((r) => r.status), [200, 200, 200, 200, 200]);
      assert.equal(responses.filter((r) => r.body.credited === true).length, 1);
      assert.equal(slow.calls, 1);
      assert.equal(slow.credits.length, 1);
    });
  });
});

describe("Top-ups without Stripe keys", () => {
  const creditor = new InMemoryTopupCreditor();

  it("createTopup fails with TOPUPS_NOT_CONFIGURED (FAILED_PRECONDITION) and says which keys to set", async () => {
    const topups = createTopups({}, creditor);
    assert.equal(topups.configured, false);
    const err = await rejection(topups.createTopup({ customerId: CUSTOMER, amountUsd: 25 }));
    assert.equal(err.reason, "TOPUPS_NOT_CONFIGURED");
    assert.equal(err.code, Code.FAILED_PRECONDITION);
    assert.equal(err.message, "top-ups are not configured on this server: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET");
    assert.equal(err.message, TOPUPS_NOT_CONFIGURED_MESSAGE);
  });

  it("the webhook answers 503 JSON with the same explanation, so Stripe keeps the events for later", async () => {
    const topups = createTopups({ secretKey: "  ", webhookSecret: "" }, creditor);
    const response = await topups.handleWebhook(Buffer.from("{}"), "t=1,v1=x");
    assert.equal(response.status, 503);
    assert.deepEqual(response.body, { error: { code: "FAILED_PRECONDITION", reason: "TOPUPS_NOT_CONFIGURED", message: TOPUPS_NOT_CONFIGURED_MESSAGE } });
    assert.equal(creditor.calls, 0);
  });

  it("refuses half a configuration at start-up", () => {
    assert.throws(() => createTopups({ secretKey: SECRET_KEY }, creditor), (e: unknown) => e instanceof TopupsConfigError && /STRIPE_WEBHOOK_SECRET is not/.test(e.message));
    assert.throws(() => createTopups({ webhookSecret: WEBHOOK_SECRET }, creditor), /STRIPE_SECRET_KEY is not/);
    assert.throws(() => createTopups({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET }, creditor), /successUrl/);
  });

  it("both keys and URLs give the Stripe implementation", () => {
    const topups = createTopups({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, successUrl: "https://x/s", cancelUrl: "https://x/c" }, creditor);
    assert.equal(topups.configured, true);
    assert.ok(topups instanceof StripeTopups);
  });
});
