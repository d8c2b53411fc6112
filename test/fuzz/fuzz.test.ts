// The adversarial suite: a seeded fuzzer over the REST and gRPC surfaces of the whole server (tiny
// model, Stripe pointed at the local fake), checking after every case that it was answered in time,
// with nothing 5xx but documented 503s, a small error, and the caller's balance untouched unless it
// succeeded; a healthy canary on the same connection every few cases; at the end, that no API key or
// Stripe secret reached the logs, that no customer who never authenticated lost money, and that the
// process saw no unhandled rejection.
//
//   DREAM_FUZZ_CASES (default 10000, split evenly over REST and gRPC)  DREAM_FUZZ_SEED (default 20261201)
//   DREAM_FUZZ_LOG_FILE=/tmp/fuzz.log keeps the server's log of the run (to read a violation's stack).
//   DREAM_FUZZ_BACKEND=real runs it on DATABASE_URL / REDIS_URL instead of the embedded ledger.
//   e.g. DREAM_FUZZ_CASES=200000 DREAM_FUZZ_SEED=7 npx mocha test/fuzz/fuzz.test.ts
import assert from "node:assert/strict";
import fs from "node:fs";
import * as http from "node:http";
import * as grpc from "@grpc/grpc-js";
import sharp from "sharp";
import { encodeNpy } from "../../src/codec";
import { GetModelRequest } from "../../src/gen/dream/v1/dream";
import { createLogger } from "../../src/observability/logger";
import { startFakeStripeServer, type FakeStripeServer } from "../fakes/fake-stripe-server";
import { startHarness, testActions, testFrame, type Harness } from "../e2e/harness";
import { grpcCase, type GrpcCase } from "./grpc-cases";
import { D, H, makeSeeds, TINY, W, type Seeds } from "./inputs";
import { Prng } from "./prng";
import { restCase, type RestCase } from "./rest-cases";
import { balanceMicros, newTally, runLane, type Lane, type Tally, type Violation } from "./run";
import { sendGrpc, sendRest } from "./send";

const CASES = Number(process.env.DREAM_FUZZ_CASES ?? 10_000);
const SEED = Number(process.env.DREAM_FUZZ_SEED ?? 20261201);
const ANSWER_MS = Number(process.env.DREAM_FUZZ_ANSWER_MS ?? 15_000);
const LANES_PER_SURFACE = 2;
const CANARY_EVERY = 25;
const CREDITS_USD = 500;
/** Every key this run issued: none may appear in a log line. */
const issuedKeys: string[] = [];
const STRIPE_SECRET = "sk_test_FuzzSecretKeyNeverInLogs0123456789";
const WEBHOOK_SECRET = "whsec_FuzzWebhookSecretNeverInLogs0123456789";

describe(`fuzz: ${CASES} seeded cases over REST and gRPC (seed ${SEED})`, function () {
  this.timeout(Math.max(600_000, CASES * 200));
  const lines: string[] = [];
  const rejections: unknown[] = [];
  const onRejection = (r: unknown) => void rejections.push(r);
  let fake: FakeStripeServer;
  let h: Harness;
  let seeds: Seeds;

  before(async () => {
    process.on("unhandledRejection", onRejection);
    fake = await startFakeStripeServer();
    const real = process.env.DREAM_FUZZ_BACKEND === "real" ? { DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL } : {};
    h = await startHarness(
      // The per-IP bucket would answer most unauthenticated cases 429 before they reach a parser: raised
      // so that those paths are fuzzed (the flood limits have tests of their own).
      { DREAM_LOG_LEVEL: "info", DREAM_IP_RATE_PER_S: "1000000", DREAM_IP_BURST: "1000000", STRIPE_SECRET_KEY: STRIPE_SECRET, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: `http://127.0.0.1:${fake.port}`, ...real },
      CREDITS_USD,
      createLogger("info", { write: (s: string) => void lines.push(s) }),
    );
    seeds = await makeSeeds();
  });
  after(async () => {
    process.off("unhandledRejection", onRejection);
    await h?.stop();
    await fake?.close();
  });

  it("keeps every property after every case", async () => {
    const t0 = Date.now();
    const root = new Prng(SEED);
    const other = await h.newKey(CREDITS_USD);
    const canaryKey = await h.newKey(CREDITS_USD);
    issuedKeys.push(other.rawKey, canaryKey.rawKey);
    const otherBefore = await balanceMicros(h.app, other.customerId);
    const agent = new http.Agent({ keepAlive: true, maxSockets: LANES_PER_SURFACE + 1 });
    const channel = new grpc.Client(h.grpcAddress, grpc.credentials.createInsecure(), { "grpc.max_receive_message_length": -1 });
    const canaries = new Canaries(h, agent, channel, canaryKey.rawKey, canaryKey.customerId);
    const tally = newTally();
    const lanes: Array<Promise<void>> = [];
    const perLane = Math.ceil(CASES / (2 * LANES_PER_SURFACE));
    for (let i = 0; i < LANES_PER_SURFACE; i++) {
      const restKey = await laneKey(h);
      const rng = root.fork();
      const rest: Lane<RestCase> = {
        name: `rest-${i}`,
        customerId: restKey.customerId,
        next: () => restCase(rng, seeds, { valid: restKey.rawKey, other: other.rawKey }),
        send: (c) => sendRest(agent, h.app.httpPort, c, ANSWER_MS),
        canary: () => canaries.rest(),
      };
      const grpcKey = await laneKey(h);
      const grng = root.fork();
      const g: Lane<GrpcCase> = {
        name: `grpc-${i}`,
        customerId: grpcKey.customerId,
        next: () => grpcCase(grng, seeds, grpcKey.rawKey, other.rawKey),
        send: (c) => sendGrpc(channel, c, ANSWER_MS),
        canary: () => canaries.grpc(),
      };
      lanes.push(runLane(h.app, rest, perLane, CANARY_EVERY, tally), runLane(h.app, g, perLane, CANARY_EVERY, tally));
    }
    await Promise.all(lanes);
    channel.close();
    agent.destroy();
    report(tally, Date.now() - t0);
    if (process.env.DREAM_FUZZ_LOG_FILE) fs.writeFileSync(process.env.DREAM_FUZZ_LOG_FILE, lines.join(""));

    assert.deepEqual(tally.violations.slice(0, 20), [], `${tally.violations.length} violations (seed ${SEED}); first ones above`);
    assert.ok(tally.cases >= CASES, `ran ${tally.cases} cases`);
    assert.equal(await balanceMicros(h.app, other.customerId), otherBefore, "a customer whose key was only ever echoed lost or gained money");
    assert.equal(canaries.billingErrors, 0, "canary predicts were billed exactly their frames");
    assert.deepEqual(rejections, [], "no unhandled rejection");
    const health = await fetch(`${h.httpBase}/healthz`);
    assert.equal(health.status, 200, "the server is still healthy");
    const logged = lines.join("");
    if (process.env.DREAM_FUZZ_LOG_FILE) fs.writeFileSync(process.env.DREAM_FUZZ_LOG_FILE, logged);
    for (const secret of [...issuedKeys, h.apiKey, STRIPE_SECRET, WEBHOOK_SECRET]) assert.ok(!logged.includes(secret.slice(4)), `a secret (${secret.slice(0, 8)}…) reached the logs`);
  });
});

/** A lane's customer: plenty of credits and a rate limit that never throttles its own cases. */
async function laneKey(h: Harness): Promise<{ rawKey: string; customerId: string }> {
  const key = await h.app.billing.createKey({ name: `fuzz-${Date.now()}`, creditsMicros: CREDITS_USD * 1_000_000 });
  await h.app.billing.setRateLimit(key.keyId, { ratePerS: 1_000_000, burst: 1_000_000 });
  issuedKeys.push(key.rawKey);
  return key;
}

/** Healthy calls with their own key on the lanes' connections: metadata reads, and now and then a billed predict. */
class Canaries {
  billingErrors = 0;
  private count = 0;
  private png: Promise<Buffer>;

  constructor(
    private readonly h: Harness,
    private readonly agent: http.Agent,
    private readonly channel: grpc.Client,
    private readonly key: string,
    private readonly customerId: string,
  ) {
    this.png = sharp(Buffer.from(testFrame(H, W)), { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
  }

  async rest(): Promise<string | undefined> {
    if (++this.count % 8 === 0) return this.restPredict();
    const answer = await sendRest(this.agent, this.h.app.httpPort, { kind: "canary", method: "GET", path: `/v1/models/${TINY}`, headers: { authorization: `Bearer ${this.key}` } }, ANSWER_MS);
    return answer.status === "200" ? undefined : `REST canary answered ${answer.status} ${answer.reason ?? answer.detail ?? ""}`;
  }

  async grpc(): Promise<string | undefined> {
    const answer = await sendGrpc(this.channel, { kind: "canary", path: "/dream.v1.Models/GetModel", stream: false, bytes: Buffer.from(GetModelRequest.encode({ slug: TINY }).finish()), authorization: `Bearer ${this.key}` }, ANSWER_MS);
    return answer.ok ? undefined : `gRPC canary answered ${answer.status} ${answer.detail ?? ""}`;
  }

  /** A real predict: 200, and the balance moves by exactly its frames × the tiny model's price. */
  private async restPredict(): Promise<string | undefined> {
    const steps = 4;
    const boundary = "canary";
    const part = (name: string, data: Buffer) => [Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="x"\r\n\r\n`), data, Buffer.from("\r\n")];
    const body = Buffer.concat([...part("frame", await this.png), ...part("actions", encodeNpy(testActions(steps, D, 0), [steps, D])), Buffer.from(`--${boundary}--\r\n`)]);
    const before = await balanceMicros(this.h.app, this.customerId);
    const answer = await sendRest(this.agent, this.h.app.httpPort, { kind: "canary", method: "POST", path: `/v1/models/${TINY}/predict`, headers: { authorization: `Bearer ${this.key}`, "content-type": `multipart/form-data; boundary=${boundary}` }, body }, ANSWER_MS);
    if (answer.status !== "200") return `REST canary predict answered ${answer.status} ${answer.reason ?? ""}`;
    const price = this.h.app.registry.get(TINY).entry.pricePerFrameMicros;
    const spent = before - (await balanceMicros(this.h.app, this.customerId));
    // A rollout of T actions returns T + 1 frames (the start frame first), and every returned frame is billed.
    if (spent !== (steps + 1) * price) this.billingErrors++;
    return undefined;
  }
}

function report(t: Tally, wallMs: number): void {
  const summary = { seed: SEED, cases: t.cases, successes: t.successes, canaries: t.canaries, violations: t.violations.length, wall_s: Math.round(wallMs / 100) / 10, by_status: t.byStatus, successes_by_method: t.successesByMethod };
  console.log(JSON.stringify(summary));
  // Grouped, so a run with many violations still shows every distinct failure once.
  const groups = new Map<string, { n: number; first: Violation }>();
  for (const v of t.violations) {
    const key = `${v.kind.split(" ").slice(0, 3).join(" ")}: ${v.what.slice(0, 60)}`;
    const g = groups.get(key);
    if (g) g.n++;
    else groups.set(key, { n: 1, first: v });
  }
  for (const [key, g] of groups) console.log(`  ${g.n}× ${key} (first: ${g.first.lane}#${g.first.index}: ${g.first.what.slice(0, 300)})`);
}
