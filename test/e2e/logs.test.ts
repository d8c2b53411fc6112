// Logs end to end: the whole server (startApp, tiny model, Stripe keys pointed at the fake Stripe API)
// logging at debug into a buffer while real HTTP and gRPC traffic runs — predicts with an API key,
// errors (401/402/400), top-ups (one failing at Stripe), signed, tampered and rejected webhooks. Then
// the output is grepped: every line is pino JSON, the predicts' request ids are there, and the API
// keys, the Stripe secret key, the webhook secret, webhook bodies and signatures are not — also when a
// caller logs them by mistake under the names the code uses.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { DreamClient, packActions } from "../../clients/typescript/src";
import { startApp, type App } from "../../src/app/app";
import { encodeNpy } from "../../src/codec";
import { loadConfig } from "../../src/config/config";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import { createLogger } from "../../src/observability/logger";
import { startFakeStripeServer, type FakeStripeServer } from "../fakes/fake-stripe-server";
import { checkoutEventPayload, signed } from "../stripe/events";
import { testActions, testFrame } from "./harness";

const TINY = "dream-reference-tiny";
const STRIPE_SECRET = "sk_test_LogsE2eSecretKeyDoNotLog0123456789";
const WEBHOOK_SECRET = "whsec_LogsE2eWebhookSecretDoNotLog0123456789";

describe("e2e: logs carry request ids and never secrets", function () {
  this.timeout(300_000);
  const lines: string[] = [];
  const sink = { write: (s: string) => void lines.push(s) };
  let fake: FakeStripeServer;
  let app: App;
  let dataDir: string;
  let base: string;
  const secrets: Record<string, string> = { STRIPE_SECRET, WEBHOOK_SECRET };
  const requestIds: string[] = [];

  before(async () => {
    fake = await startFakeStripeServer();
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-e2e-logs-"));
    const config = loadConfig({
      DREAM_GRPC_ADDR: "127.0.0.1:0",
      DREAM_HTTP_ADDR: "127.0.0.1:0",
      DREAM_DATA_DIR: dataDir,
      DREAM_MODELS: TINY,
      DREAM_LOG_LEVEL: "debug",
      DREAM_STARTER_CREDITS_USD: "0",
      DREAM_SHUTDOWN_GRACE_MS: "2000",
      STRIPE_SECRET_KEY: STRIPE_SECRET,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_BASE: `http://127.0.0.1:${fake.port}`,
    });
    app = await startApp(config, { logger: createLogger("debug", sink) });
    await app.modelsLoaded;
    base = `http://127.0.0.1:${app.httpPort}`;
  });
  after(async () => {
    await app?.shutdown();
    await fake?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("runs predicts, errors, top-ups and webhooks, and the log has the request ids but no key, secret, webhook body or signature", async () => {
    const { rawKey } = await app.billing.createKey({ name: "logs-e2e", creditsMicros: 10_000_000 });
    const poor = await app.billing.createKey({ name: "logs-e2e-poor", creditsMicros: 100 });
    secrets.API_KEY = rawKey;
    secrets.POOR_KEY = poor.rawKey;
    const auth = { authorization: `Bearer ${rawKey}` };
    const png = await sharp(Buffer.from(testFrame(48, 64)), { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
    const form = () => {
      const fd = new FormData();
      fd.append("frame", new Blob([png]), "f.png");
      fd.append("actions", new Blob([encodeNpy(testActions(24, 384, 0), [24, 384])]), "a.npy");
      return fd;
    };

    // An authenticated predict over HTTP and a PredictBatch over gRPC.
    const res = await fetch(`${base}/v1/models/${TINY}/predict`, { method: "POST", headers: auth, body: form() });
    assert.equal(res.status, 200);
    await res.arrayBuffer();
    requestIds.push(res.headers.get("x-dreamengine-request-id")!);
    const client = new DreamClient({ address: `127.0.0.1:${app.grpcPort}`, apiKey: rawKey });
    try {
      const { headers } = await client.predictBatch({ model: TINY, startFrame: { encoding: FrameEncoding.RAW_RGB8, data: testFrame(48, 64), height: 48, width: 64 }, candidates: [packActions(testActions(12, 384, 1), 12, 384)] });
      requestIds.push(headers["x-dreamengine-request-id"]!);
    } finally {
      client.close();
    }

    // Errors: unknown key, 402, a bad request.
    assert.equal((await fetch(`${base}/v1/billing/balance`, { headers: { authorization: `Bearer dre_${"q".repeat(43)}` } })).status, 401);
    assert.equal((await fetch(`${base}/v1/models/${TINY}/predict`, { method: "POST", headers: { authorization: `Bearer ${poor.rawKey}` }, body: form() })).status, 402);
    assert.equal((await fetch(`${base}/v1/models/${TINY}/predict`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: '{"nope": 1}' })).status, 400);

    // A key right after a word character, in a path that is not valid percent-encoding (issue 10,
    // item 8): a 400 naming the path, and the key never reaches the log.
    const badPath = await fetch(`${base}/v1/models/%ZZ${rawKey}`);
    assert.equal(badPath.status, 400);
    assert.equal(((await badPath.json()) as { error: { field: string } }).error.field, "path");
    assert.equal((await fetch(`${base}/v1/models/%ZZ${rawKey}/predict`, { method: "POST", headers: auth, body: form() })).status, 400);

    // Top-ups: one succeeds, one fails at Stripe (logged as a warning).
    const topup = async () => fetch(`${base}/v1/billing/topup`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: '{"amount_usd": 25}' });
    const ok = await topup();
    assert.equal(ok.status, 200);
    const sessionId = ((await ok.json()) as { session_id: string }).session_id;
    fake.failNext(401, { type: "invalid_request_error", message: "Invalid API Key provided" });
    assert.equal((await topup()).status, 500);

    // Webhooks: a good one (credited), a tampered one (400), and a paid session whose amount does not
    // match what we asked for (422, logged as an error with the event id). Each body carries a marker.
    const marker = `log-marker-${Date.now()}@example.com`;
    secrets.WEBHOOK_BODY_MARKER = marker;
    const session = fake.completeSession(sessionId);
    const goodPayload = checkoutEventPayload("checkout.session.completed", session, { session: { customer_details: { email: marker } } });
    const good = signed(goodPayload, WEBHOOK_SECRET);
    secrets.WEBHOOK_BODY = goodPayload;
    secrets.SIGNATURE = good.header.split("v1=")[1]!;
    const hook = (body: Buffer | string, signature: string) => fetch(`${base}/v1/billing/stripe/webhook`, { method: "POST", headers: { "content-type": "application/json", "stripe-signature": signature }, body });
    assert.equal((await hook(good.body, good.header)).status, 200);
    assert.equal((await hook(goodPayload.replace(marker, "x@example.com"), good.header)).status, 400);
    const mismatch = checkoutEventPayload("checkout.session.completed", session, { session: { amount_total: 100, customer_details: { email: marker } } });
    assert.equal((await hook(mismatch, signed(mismatch, WEBHOOK_SECRET).header)).status, 422);

    // A caller logging secrets by mistake, under the names the code base uses for them.
    app.logger.warn(
      {
        apiKey: rawKey,
        rawKey,
        authorization: `Bearer ${rawKey}`,
        headers: { authorization: `Bearer ${rawKey}` },
        req: { headers: { authorization: `Bearer ${rawKey}` } },
        metadata: { authorization: `Bearer ${rawKey}` },
        stripeSecretKey: STRIPE_SECRET,
        webhookSecret: WEBHOOK_SECRET,
        secretKey: STRIPE_SECRET,
        stripe: { secretKey: STRIPE_SECRET, webhookSecret: WEBHOOK_SECRET },
        config: { stripe: { secretKey: STRIPE_SECRET, webhookSecret: WEBHOOK_SECRET } },
        rawBody: goodPayload,
        body: goodPayload,
        signature: good.header,
      },
      "careless caller",
    );
    // …or inside a message or an error string, where no key name gives them away.
    app.logger.error({ err: `stripe rejected ${STRIPE_SECRET} (webhook secret ${WEBHOOK_SECRET})` }, `lookup of ${rawKey} failed`);
    // …or glued to a word character, URL-encoded, or with its underscore encoded.
    app.logger.error({ path: `/v1/models/%ZZ${rawKey}`, url: `/x?auth=Bearer%20${rawKey}&s=x${STRIPE_SECRET}&w=${encodeURIComponent(WEBHOOK_SECRET)}` }, `bad path /v1/models/%ZZ${rawKey.replace("_", "%5F")}`);

    const text = lines.join("");
    // Every line is one pino JSON object with a level and the service name.
    for (const line of text.trim().split("\n")) {
      const o = JSON.parse(line) as { level: number; svc: string; msg?: string };
      assert.equal(o.svc, "dream-engine");
      assert.equal(typeof o.level, "number");
    }
    const records = text.trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    // The request ids of both predicts, on their "predict settled" lines.
    for (const id of requestIds) {
      assert.ok(records.some((r) => r.msg === "predict settled" && r.requestId === id), `request id ${id} missing from the log`);
    }
    assert.ok(records.some((r) => r.msg === "stripe: top-up event not credited" && typeof r.event_id === "string"), "the rejected webhook is logged by event id");
    assert.ok(records.some((r) => r.msg === "stripe: creating a checkout session failed"), "the failed top-up is logged");
    const careless = records.find((r) => r.msg === "careless caller")!;
    assert.equal(careless.apiKey, "[redacted]");
    assert.equal((careless.config as any).stripe.secretKey, "[redacted]");
    assert.ok(records.some((r) => r.msg === "lookup of [redacted] failed" && r.err === "stripe rejected [redacted] (webhook secret [redacted])"));
    assert.ok(records.some((r) => r.msg === "bad path /v1/models/%ZZ[redacted]" && r.path === "/v1/models/%ZZ[redacted]" && r.url === "/x?auth=Bearer%20[redacted]&s=x[redacted]&w=[redacted]"));

    for (const [name, secret] of Object.entries(secrets)) {
      assert.ok(secret.length >= 20, name);
      assert.ok(!text.includes(secret), `${name} appears in the log output`);
    }
    // Not even the body of an API key without its prefix, nor a recognisable fragment of the secrets.
    assert.ok(!text.includes(rawKey.slice(4)), "API key body in the log");
    assert.ok(!/dre_[a-z2-7]{43}/.test(text), "something shaped like an API key is in the log");
    assert.ok(!text.includes("LogsE2eSecretKey") && !text.includes("LogsE2eWebhookSecret"), "a fragment of a Stripe secret is in the log");
  });
});
