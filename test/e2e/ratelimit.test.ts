// Per-key rate limiting end to end, over real HTTP and gRPC against the whole server (startApp, tiny
// model, embedded ledger, in-process GCRA limiter): a fresh key's burst of 250 → exactly 200 pass and
// 50 get 429 with Retry-After and the IETF RateLimit / RateLimit-Policy headers; after Retry-After
// (real time) requests pass again; another key is unaffected; gRPC answers RESOURCE_EXHAUSTED with a
// google.rpc.RetryInfo; HTTP and gRPC spend one bucket; keyless endpoints are bounded per IP.
//
// "One burst" means one instant. On two shared cores 250 HTTP requests take a few hundred ms, during
// which a 50/s bucket legitimately refills a few tokens, so the exact-count tests hold the server's
// monotonic clock still while the burst is in flight (PausableClock below: real time otherwise, and
// it never jumps). A separate test runs the same burst on the real clock and checks the count against
// the refill the measured burst duration allows.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DreamClient, DreamError } from "../../clients/typescript/src";
import { startApp, type App } from "../../src/app/app";
import { loadConfig } from "../../src/config/config";
import { systemClock, type Clock } from "../../src/core/clock";
import { silentLogger } from "../../src/observability/logger";
import { e2eEnv } from "./harness";

/** The system clock, except that `pause()` holds nowUs() still until `resume()`; time never jumps. */
class PausableClock implements Clock {
  private offsetUs = 0;
  private pausedAtUs: number | undefined;
  nowUs(): number {
    return this.pausedAtUs ?? systemClock.nowUs() - this.offsetUs;
  }
  wallMs(): number {
    return systemClock.wallMs();
  }
  pause(): void {
    this.pausedAtUs ??= this.nowUs();
  }
  resume(): void {
    if (this.pausedAtUs === undefined) return;
    this.offsetUs = systemClock.nowUs() - this.pausedAtUs;
    this.pausedAtUs = undefined;
  }
}

const POLICY = '"per-key";q=200;w=4'; // 200 burst, refilled in 4 s = 50/s
const IP_POLICY = '"per-ip";q=100;w=5'; // 100 burst, 20/s

interface Outcome {
  status: number;
  ratelimit: string | null;
  policy: string | null;
  retryAfter: string | null;
  body: any;
}

async function call(url: string, headers: Record<string, string> = {}): Promise<Outcome> {
  const res = await fetch(url, { headers });
  const text = await res.text();
  return { status: res.status, ratelimit: res.headers.get("ratelimit"), policy: res.headers.get("ratelimit-policy"), retryAfter: res.headers.get("retry-after"), body: JSON.parse(text) };
}

const burst = (n: number, url: string, headers: Record<string, string> = {}): Promise<Outcome[]> => Promise.all(Array.from({ length: n }, () => call(url, headers)));

/** `"per-key";r=137;t=2` → {r, t}. */
function parseRateLimit(value: string | null, policyName = "per-key"): { r: number; t: number } {
  const m = new RegExp(`^"${policyName}";r=(\\d+);t=(\\d+)$`).exec(value ?? "");
  assert.ok(m, `RateLimit header ${JSON.stringify(value)}`);
  return { r: Number(m[1]), t: Number(m[2]) };
}

function assertRejected(o: Outcome, policy = POLICY, policyName = "per-key"): void {
  assert.equal(o.status, 429);
  assert.equal(o.retryAfter, "1", "Retry-After: whole seconds, at least 1 (the next token is 20 ms away)");
  assert.equal(o.policy, policy);
  assert.deepEqual(parseRateLimit(o.ratelimit, policyName), { r: 0, t: 1 }, "no tokens left; t equals Retry-After on a denial");
  assert.equal(o.body.error.reason, "RATE_LIMITED");
  assert.equal(o.body.error.code, "resource_exhausted");
  assert.match(o.body.error.request_id, /^[0-9a-f-]{36}$/);
}

describe("e2e: per-key rate limiting over HTTP and gRPC", function () {
  this.timeout(300_000);
  const clock = new PausableClock();
  let app: App;
  let dataDir: string;
  let base: string;
  let grpcAddress: string;
  const clients: DreamClient[] = [];

  const newKey = async (): Promise<string> => (await app.billing.createKey({ name: `rl-${Math.random().toString(36).slice(2)}`, creditsMicros: 1_000_000 })).rawKey;
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
  const grpcClient = (key: string): DreamClient => {
    const c = new DreamClient({ address: grpcAddress, apiKey: key, retries: 0 }); // the 429 itself is under test
    clients.push(c);
    return c;
  };

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-e2e-rl-"));
    const config = loadConfig(e2eEnv(dataDir));
    app = await startApp(config, { clock, logger: silentLogger });
    await app.modelsLoaded;
    base = `http://127.0.0.1:${app.httpPort}`;
    grpcAddress = `127.0.0.1:${app.grpcPort}`;
  });
  afterEach(() => clock.resume());
  after(async () => {
    for (const c of clients) c.close();
    await app?.shutdown();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("250 requests in one burst on a fresh key: exactly 200 pass, 50 get 429; after Retry-After they pass again; a second key is unaffected", async () => {
    const a = bearer(await newKey());
    const b = bearer(await newKey());
    const url = `${base}/v1/billing/balance`;

    clock.pause();
    const outcomes = await burst(250, url, a);
    const passed = outcomes.filter((o) => o.status === 200);
    const limited = outcomes.filter((o) => o.status === 429);
    assert.equal(passed.length, 200);
    assert.equal(limited.length, 50);
    // Every admitted response says how many tokens are left: each of 199…0 exactly once.
    for (const o of passed) assert.equal(o.policy, POLICY);
    assert.deepEqual(passed.map((o) => parseRateLimit(o.ratelimit).r).sort((x, y) => x - y), Array.from({ length: 200 }, (_, i) => i));
    for (const o of limited) assertRejected(o);

    // Still the same instant: key A stays empty, key B has its own full bucket.
    assertRejected(await call(url, a));
    const other = await call(url, b);
    assert.equal(other.status, 200);
    assert.equal(parseRateLimit(other.ratelimit).r, 199);

    // Time moves again: wait the Retry-After the server gave (1 s of real time) and key A passes.
    clock.resume();
    await sleep(Number(limited[0]!.retryAfter) * 1000);
    const again = await call(url, a);
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.ok(parseRateLimit(again.ratelimit).r >= 48, `~50 tokens refill per second: ${again.ratelimit}`);
  });

  it("the same burst on the real clock: at least 200 pass, and no more than the measured burst time refills", async () => {
    const a = bearer(await newKey());
    const startedUs = systemClock.nowUs();
    const outcomes = await burst(250, `${base}/v1/billing/balance`, a);
    const elapsedUs = systemClock.nowUs() - startedUs;
    const passed = outcomes.filter((o) => o.status === 200).length;
    const limited = outcomes.filter((o) => o.status === 429);
    assert.equal(passed + limited.length, 250, "every answer is 200 or 429");
    assert.ok(passed >= 200, `the burst allowance is 200, got ${passed}`);
    const refillable = Math.floor(elapsedUs / 20_000) + 1; // one token per 20 ms while the burst was in flight
    assert.ok(passed <= 200 + refillable, `${passed} passed in ${Math.round(elapsedUs / 1000)} ms: at most 200 + ${refillable}`);
    for (const o of limited) assertRejected(o);
  });

  it("gRPC: RESOURCE_EXHAUSTED with google.rpc.RetryInfo once the bucket is empty (DreamError reason RATE_LIMITED, retryAfterS)", async () => {
    const client = grpcClient(await newKey());
    clock.pause();
    const results = await Promise.allSettled(Array.from({ length: 210 }, () => client.getBalance()));
    const ok = results.filter((r) => r.status === "fulfilled");
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    assert.equal(ok.length, 200);
    assert.equal(rejected.length, 10);
    for (const r of rejected) {
      const err = r.reason as DreamError;
      assert.ok(err instanceof DreamError, String(err));
      assert.equal(err.code, 8, "RESOURCE_EXHAUSTED");
      assert.equal(err.reason, "RATE_LIMITED");
      assert.equal(err.retryAfterS, 1, "RetryInfo.retry_delay");
      assert.equal(err.details.policy, "per-key");
      assert.equal(err.details.burst, "200");
      assert.match(err.requestId ?? "", /^[0-9a-f-]{36}$/);
    }
  });

  it("HTTP and gRPC spend one bucket per key", async () => {
    const key = await newKey();
    const client = grpcClient(key);
    clock.pause();
    const http = await burst(150, `${base}/v1/billing/balance`, bearer(key));
    assert.ok(http.every((o) => o.status === 200));
    await Promise.all(Array.from({ length: 50 }, () => client.getBalance()));
    await assert.rejects(client.getBalance(), (err: DreamError) => err.reason === "RATE_LIMITED");
    assertRejected(await call(`${base}/v1/billing/balance`, bearer(key)));
  });

  it("keyless endpoints (healthz, status, catalog) are bounded per client IP: burst 100 at 20/s, their own bucket", async () => {
    clock.pause();
    const outcomes = await burst(130, `${base}/healthz`);
    const passed = outcomes.filter((o) => o.status === 200);
    const limited = outcomes.filter((o) => o.status === 429);
    assert.equal(passed.length, 100);
    assert.equal(limited.length, 30);
    for (const o of limited) assertRejected(o, IP_POLICY, "per-ip");
    // One bucket for every keyless route of this address; keyed routes are not affected.
    assertRejected(await call(`${base}/v1/status`), IP_POLICY, "per-ip");
    assertRejected(await call(`${base}/v1/models`), IP_POLICY, "per-ip");
    assert.equal((await call(`${base}/v1/billing/balance`, bearer(await newKey()))).status, 200);
    clock.resume();
    await sleep(1000);
    assert.equal((await call(`${base}/healthz`)).status, 200);
  });
});

describe("e2e: the per-IP policy is configurable (DREAM_IP_RATE_PER_S / DREAM_IP_BURST)", function () {
  this.timeout(300_000);
  const clock = new PausableClock();
  let app: App;
  let dataDir: string;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "dream-e2e-rl-ip-"));
    app = await startApp(loadConfig({ ...e2eEnv(dataDir), DREAM_IP_RATE_PER_S: "2", DREAM_IP_BURST: "7" }), { clock, logger: silentLogger });
    await app.modelsLoaded;
  });
  after(async () => {
    await app?.shutdown();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("a burst of 7 at 2/s: the 8th keyless call in one instant is 429 with that policy", async () => {
    clock.pause();
    const outcomes = await burst(10, `http://127.0.0.1:${app.httpPort}/healthz`);
    assert.equal(outcomes.filter((o) => o.status === 200).length, 7);
    const limited = outcomes.filter((o) => o.status === 429);
    assert.equal(limited.length, 3);
    for (const o of limited) {
      assert.match(o.policy ?? "", /^"per-ip";q=7;w=\d+$/, "the configured burst is the policy's quota");
      assert.equal(o.body.error.reason, "RATE_LIMITED");
    }
    clock.resume();
  });

  it("a value out of range is a config error naming the variable", () => {
    assert.throws(() => loadConfig({ ...e2eEnv(dataDir), DREAM_IP_BURST: "0" }), /DREAM_IP_BURST must be an integer/);
    assert.throws(() => loadConfig({ ...e2eEnv(dataDir), DREAM_IP_RATE_PER_S: "fast" }), /DREAM_IP_RATE_PER_S must be an integer/);
  });
});
