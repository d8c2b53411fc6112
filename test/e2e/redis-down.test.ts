// Redis killed for good (SIGKILL) under a running server: every endpoint over REST and gRPC answers
// 503 / UNAVAILABLE with a retry hint (never 500 / INTERNAL) within a bound, /healthz is not ready and
// grpc.health.v1 NOT_SERVING; Redis restarted on the same port: every endpoint recovers, and no money
// was created or lost. A private redis-server (never the shared one); the ledger is Postgres when
// DATABASE_URL is set, embedded otherwise.
import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { DreamError, packActions } from "../../clients/typescript/src";
import { Code } from "../../src/core/errors";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import { HealthCheckResponse_ServingStatus as Serving, HealthClient } from "../../src/gen/grpc/health/v1/health";
import { RedisServerProcess, redisServerBinary } from "../billing/helpers/redis-server";
import { sleep, startHarness, testActions, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const H = 48;
const W = 64;
const T = 12;
/** Every answer during the outage comes within this (ioredis gives up on a command after ~1 s). */
const ANSWER_BOUND_MS = 5_000;

/** What one endpoint answered: "ok", or the HTTP status / gRPC code name, plus any retry hint. */
interface Outcome {
  endpoint: string;
  answer: string;
  retryAfterS: number | undefined;
  ms: number;
}

describe("e2e/fault: Redis killed for good, then restarted (private redis-server)", function () {
  this.timeout(180_000);
  if (!redisServerBinary()) {
    if (process.env.REDIS_URL) it("redis-server must be on PATH when REDIS_URL is set", () => assert.fail("redis-server binary not found"));
    else it("SKIPPED: no redis-server binary on PATH (CI has one)");
    return;
  }

  let server: RedisServerProcess;
  let h: Harness;
  let health: HealthClient;
  const frame = testFrame(H, W);
  const key = () => ({ authorization: `Bearer ${h.apiKey}` });

  before(async () => {
    server = await RedisServerProcess.start();
    h = await startHarness({ REDIS_URL: server.url, DATABASE_URL: process.env.DATABASE_URL }, 10);
    health = new HealthClient(h.grpcAddress, grpc.credentials.createInsecure());
  });
  after(async () => {
    health?.close();
    await h?.stop().catch(() => undefined);
    await server?.stop();
  });

  const timed = async (endpoint: string, call: () => Promise<{ answer: string; retryAfterS?: number }>): Promise<Outcome> => {
    const t0 = Date.now();
    const { answer, retryAfterS } = await call();
    return { endpoint, answer, retryAfterS, ms: Date.now() - t0 };
  };

  const rest = (endpoint: string, path: string, init: RequestInit = {}) =>
    timed(`REST ${endpoint}`, async () => {
      const res = await fetch(h.httpBase + path, init);
      await res.arrayBuffer();
      const retry = res.headers.get("retry-after");
      return { answer: res.ok ? "ok" : String(res.status), retryAfterS: retry === null ? undefined : Number(retry) };
    });

  const rpc = (endpoint: string, call: () => Promise<unknown>) =>
    timed(`gRPC ${endpoint}`, async () => {
      try {
        await call();
        return { answer: "ok" };
      } catch (err) {
        if (!(err instanceof DreamError)) throw err;
        return { answer: Code[err.code] ?? String(err.code), retryAfterS: err.retryAfterS };
      }
    });

  const grpcHealth = () =>
    timed("gRPC grpc.health.v1", () =>
      new Promise((resolve) =>
        health.check({ service: "" }, (err, res) => resolve({ answer: err ? (Code[err.code] ?? String(err.code)) : res.status === Serving.SERVING ? "ok" : Serving[res.status] })),
      ),
    );

  const predictJson = () =>
    JSON.stringify({
      start_frame: { encoding: "RAW_RGB8", data: Buffer.from(frame).toString("base64"), height: H, width: W },
      actions: { data: Buffer.from(testActions(T, 384, 0).buffer).toString("base64"), shape: [T, 384] },
      output: { encoding: "RAW_RGB8" },
    });

  /** One call to each endpoint, all at once. */
  const everyEndpoint = (): Promise<Outcome[]> =>
    Promise.all([
      rest("/healthz", "/healthz"),
      rest("/v1/models", "/v1/models"),
      rest("/v1/models/{slug}", `/v1/models/${TINY}`),
      rest("/v1/status", "/v1/status"),
      rest("/v1/billing/balance", "/v1/billing/balance", { headers: key() }),
      rest("predict", `/v1/models/${TINY}/predict`, { method: "POST", headers: { ...key(), "content-type": "application/json" }, body: predictJson() }),
      grpcHealth(),
      rpc("ListModels", () => h.client.listModels()),
      rpc("GetModel", () => h.client.getModel(TINY)),
      rpc("GetStatus", () => h.client.getStatus()),
      rpc("GetBalance", () => h.client.getBalance()),
      rpc("PredictBatch", () =>
        h.client.predictBatch({ model: TINY, startFrame: { encoding: FrameEncoding.RAW_RGB8, data: frame, height: H, width: W }, candidates: [packActions(testActions(T, 384, 1), T, 384)] }),
      ),
    ]);

  const unavailable = (o: Outcome) => o.answer === "503" || o.answer === "UNAVAILABLE" || o.answer === "NOT_SERVING";
  const show = (os: Outcome[]) => os.map((o) => `${o.endpoint}=${o.answer}${o.retryAfterS === undefined ? "" : ` (retry ${o.retryAfterS}s)`} ${o.ms}ms`).join("\n  ");

  it("every endpoint answers 503/UNAVAILABLE with a retry hint while Redis is down, never 500; all recover on restart; no money created or lost", async () => {
    const healthy = await everyEndpoint();
    assert.ok(healthy.every((o) => o.answer === "ok"), `before the outage:\n  ${show(healthy)}`);
    const ledgerBefore = await h.app.billing.transactions(h.customerId, 500);
    const balanceBefore = ledgerBefore[0]!.balanceMicros;

    await server.kill();
    // Calls may still pass until the clients notice; none may fail with anything but 503. Once every
    // endpoint says 503 in one round, the outage is fully visible.
    let round: Outcome[] = [];
    const seen: Outcome[] = [];
    const deadline = Date.now() + 30_000;
    do {
      round = await everyEndpoint();
      seen.push(...round);
      const bad = round.filter((o) => o.answer !== "ok" && !unavailable(o));
      assert.deepEqual(bad, [], `only 503/UNAVAILABLE while Redis is down:\n  ${show(round)}`);
    } while (!round.every(unavailable) && Date.now() < deadline);
    assert.ok(round.every(unavailable), `every endpoint unavailable within 30 s of the kill:\n  ${show(round)}`);
    // A second round with Redis still gone: the same, each within the bound, each with a retry hint.
    await sleep(1_500);
    round = await everyEndpoint();
    seen.push(...round);
    assert.ok(round.every(unavailable), `still unavailable:\n  ${show(round)}`);
    for (const o of seen) assert.ok(o.ms < ANSWER_BOUND_MS, `${o.endpoint} took ${o.ms} ms`);
    for (const o of round.filter((x) => x.endpoint !== "gRPC grpc.health.v1")) {
      assert.ok(o.retryAfterS !== undefined && o.retryAfterS >= 1, `${o.endpoint}: a retry hint (Retry-After / RetryInfo):\n  ${show(round)}`);
    }
    const healthBody = (await (await fetch(`${h.httpBase}/healthz`)).json()) as { error?: { reason: string }; ready?: boolean };
    assert.ok(healthBody.ready === false || healthBody.error?.reason === "UNAVAILABLE", `healthz not ready: ${JSON.stringify(healthBody)}`);

    await server.restart();
    const recoverBy = Date.now() + 30_000;
    do {
      await sleep(200);
      round = await everyEndpoint();
      seen.push(...round);
    } while (!round.every((o) => o.answer === "ok") && Date.now() < recoverBy);
    assert.ok(round.every((o) => o.answer === "ok"), `every endpoint recovers after Redis returns:\n  ${show(round)}`);

    // Money: exactly the predicts that answered success after the kill were charged; nothing else moved.
    const predictsOk = seen.filter((o) => (o.endpoint === "REST predict" || o.endpoint === "gRPC PredictBatch") && o.answer === "ok").length;
    const ledgerAfter = await h.app.billing.transactions(h.customerId, 500);
    const newEntries = ledgerAfter.slice(0, ledgerAfter.length - ledgerBefore.length);
    const charged = newEntries.reduce((s, t) => s + t.amountMicros, 0);
    assert.equal(ledgerAfter[0]!.balanceMicros, balanceBefore + charged);
    assert.equal(charged, -predictsOk * (T + 1) * 500, `${predictsOk} 13-frame predicts: ${JSON.stringify(newEntries)}`);
    const b = await h.balanceOf(h.customerId);
    assert.equal(b.heldMicros, 0);
    assert.equal(b.balanceMicros, ledgerAfter[0]!.balanceMicros, "the store agrees with the ledger");
  });
});
