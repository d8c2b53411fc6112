// The per-method policy: declared once where the method table is built, run once per call by the
// transport, and handed to the handler as a value (no memo, no side channel).
import assert from "node:assert/strict";
import { systemClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { BillingService, ModelsService, StatusService } from "../../src/gen/dream/v1/dream";
import { JobsService } from "../../src/gen/dream/v1/jobs";
import { PlanningService, SessionsService } from "../../src/gen/dream/v1/planning";
import { silentLogger } from "../../src/observability/logger";
import { StatusRecorder } from "../../src/observability/status";
import { Guard } from "../../src/service/guard";
import { buildMethods } from "../../src/service/methods";
import type { Account, BillingPort, RateLimitPort } from "../../src/service/ports";
import { InflightRequests, ModelRegistry } from "../../src/service/registry";
import type { CallContext, UnaryHandler } from "../../src/service/context";

const account: Account = { customerId: "cus_1", keyId: "key_1", rateLimit: { ratePerS: 10, burst: 10 } };

function fixture() {
  const spent = { key: 0, peer: 0, authenticate: 0 };
  const billing = {
    authenticate: async (raw: string | undefined) => {
      spent.authenticate++;
      if (raw !== "good") throw new ServiceError("UNAUTHENTICATED", "unknown API key");
      return account;
    },
    balance: async (a: Account) => ({ customerId: a.customerId, balanceMicros: 5_000_000, heldMicros: 0 }),
  } as unknown as BillingPort;
  const limiter: RateLimitPort = {
    takeKey: async () => (spent.key++, {}),
    takePeer: async () => (spent.peer++, {}),
  };
  const methods = buildMethods({
    models: new ModelRegistry([]),
    inflight: new InflightRequests(),
    guard: new Guard(billing, limiter),
    billing,
    codecs: {} as never,
    flow: {} as never,
    status: new StatusRecorder(systemClock),
    readiness: { draining: () => false, checks: async () => ({}) },
    clock: systemClock,
    startedWallMs: 0,
    version: "test",
    logger: silentLogger,
  });
  return { methods, spent };
}

const ctx = (apiKey?: string): CallContext => ({ requestId: "req_1", apiKey, peer: "127.0.0.1", signal: new AbortController().signal, deadlineWallMs: undefined, responseHeaders: new Map() });

describe("method policy (service/methods.ts)", () => {
  it("every dream.v1 method has exactly one entry with a policy; money and predictions need a key", () => {
    const { methods } = fixture();
    const paths = [ModelsService, BillingService, StatusService, PlanningService, SessionsService, JobsService].flatMap((s) => Object.values(s).map((m) => m.path));
    assert.deepEqual([...methods.keys()].sort(), [...paths].sort());
    const open = [...methods].filter(([, m]) => m.access === "public").map(([p]) => p).sort();
    assert.deepEqual(open, ["/dream.v1.Models/GetModel", "/dream.v1.Models/ListModels", "/dream.v1.Status/GetStatus", "/dream.v1.Status/Health"]);
  });

  it("every session method needs a key, and Control is the one bidirectional method", () => {
    const { methods } = fixture();
    for (const m of Object.values(SessionsService)) assert.equal(methods.get(m.path)!.access, "authorized", m.path);
    const bidi = [...methods].filter(([, m]) => m.kind === "bidi-stream").map(([p]) => p);
    assert.deepEqual(bidi, [SessionsService.control.path]);
  });

  it("an authorized method's guard authenticates and spends one key token per call, and its handler gets that account", async () => {
    const { methods, spent } = fixture();
    const m = methods.get("/dream.v1.Billing/GetBalance")!;
    const c = ctx("good");
    const admission = await m.admit(c);
    assert.deepEqual(admission, { access: "authorized", account });
    const balance = await (m.handler as UnaryHandler<object, { customerId: string }>)({}, c, admission);
    assert.equal(balance.customerId, "cus_1");
    assert.deepEqual(spent, { key: 1, peer: 0, authenticate: 1 }, "the handler must not guard again");
  });

  it("an authorized method refuses a bad key in its guard, before any handler could run", async () => {
    const { methods } = fixture();
    await assert.rejects(methods.get("/dream.v1.Models/PredictBatch")!.admit(ctx("bad")), (e: ServiceError) => e.reason === "UNAUTHENTICATED");
  });

  it("a public method spends one per-address token and no key lookup", async () => {
    const { methods, spent } = fixture();
    const m = methods.get("/dream.v1.Models/ListModels")!;
    const c = ctx();
    const res = await (m.handler as UnaryHandler<object, { models: unknown[] }>)({}, c, await m.admit(c));
    assert.deepEqual(res.models, []);
    assert.deepEqual(spent, { key: 0, peer: 1, authenticate: 0 });
  });

  it("a keyed handler handed a public admission is a wiring bug, not a silent anonymous call", async () => {
    const { methods } = fixture();
    const m = methods.get("/dream.v1.Billing/GetBalance")!;
    await assert.rejects(Promise.resolve().then(() => (m.handler as UnaryHandler<object, unknown>)({}, ctx("good"), { access: "public" })), /public admission/);
  });
});
