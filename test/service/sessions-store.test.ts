// The session store's decisions with a fake clock and a hand-driven sweep timer: idle expiry (on
// access and by the sweep), the per-key and per-server bounds, ownership, one step at a time.
import assert from "node:assert/strict";
import { FakeClock } from "../../src/core/clock";
import { ServiceError } from "../../src/core/errors";
import { expiresAtUs, isExpired, openRefusal, retryAfterS, ttlOf } from "../../src/service/plan/sessions/policy";
import { SessionStore, type NewSession, type SweepTimer } from "../../src/service/plan/sessions/store";

class ManualTimer implements SweepTimer {
  fn: (() => void) | undefined;
  starts = 0;
  start(fn: () => void): unknown {
    this.fn = fn;
    this.starts++;
    return this.starts;
  }
  stop(): void {
    this.fn = undefined;
  }
}

const init = (over: Partial<NewSession> = {}): NewSession => ({
  customerId: "cus_a",
  keyId: "key_a",
  model: "tiny",
  template: { model: "tiny" } as NewSession["template"],
  shape: { steps: 12, dim: 4 },
  ttlS: 10,
  executeSteps: 4,
  ...over,
});

function fixture(bounds = { perKeyMax: 2, totalMax: 3 }) {
  const clock = new FakeClock();
  const timer = new ManualTimer();
  return { clock, timer, store: new SessionStore({ clock, timer, bounds, sweepMs: 1000 }) };
}

const reasonOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    return (err as ServiceError).reason;
  }
  return "no error";
};

describe("session policy (pure)", () => {
  it("a session expires after exactly its TTL idle, never while a step runs", () => {
    const s = { lastUsedUs: 5_000_000, ttlS: 10, running: false };
    assert.equal(expiresAtUs(s), 15_000_000);
    assert.equal(isExpired(s, 14_999_999), false);
    assert.equal(isExpired(s, 15_000_000), true);
    assert.equal(isExpired({ ...s, running: true }, 99_000_000), false);
  });

  it("the key's bound is checked before the server's", () => {
    const bounds = { perKeyMax: 2, totalMax: 3 };
    assert.equal(openRefusal(1, 2, bounds), undefined);
    assert.equal(openRefusal(2, 3, bounds), "key");
    assert.equal(openRefusal(1, 3, bounds), "server");
  });

  it("retry-after is the whole seconds until the first session would expire, at least 1", () => {
    const nowUs = 1_000_000;
    assert.equal(retryAfterS([{ lastUsedUs: 0, ttlS: 5, running: false }, { lastUsedUs: 0, ttlS: 3, running: false }], nowUs), 2);
    assert.equal(retryAfterS([{ lastUsedUs: 0, ttlS: 1, running: false }], nowUs), 1);
    assert.equal(retryAfterS([{ lastUsedUs: 0, ttlS: 3, running: true }], nowUs), 3);
  });

  it("ttl_s 0 is the default; past the max (or fractional) is the field's error", () => {
    assert.equal(ttlOf(0, 60, 3600), 60);
    assert.equal(ttlOf(3600, 60, 3600), 3600);
    assert.match(String(ttlOf(3601, 60, 3600)), /1\.\.3600/);
  });
});

describe("session store (service/plan/sessions/store.ts)", () => {
  it("ids are unguessable and another customer's id is NOT_FOUND", () => {
    const { store } = fixture();
    const a = store.open(init());
    const b = store.open(init());
    assert.match(a.id, /^ses_[A-Za-z0-9_-]{24}$/);
    assert.notEqual(a.id, b.id);
    assert.equal(store.get(a.id, "cus_a"), a);
    assert.equal(reasonOf(() => store.get(a.id, "cus_b")), "NOT_FOUND");
    assert.equal(reasonOf(() => store.close(a.id, "cus_b")), "NOT_FOUND");
    assert.equal(store.get(a.id, "cus_a"), a, "a stranger's close leaves it open");
  });

  it("an idle session expires on access after its TTL, and a step restarts the idle time", () => {
    const { store, clock } = fixture();
    const s = store.open(init({ ttlS: 10 }));
    clock.advanceMs(9_000);
    store.endStep(store.beginStep(s.id, "cus_a"), { costMicros: 0, decided: true });
    clock.advanceMs(9_999);
    assert.equal(store.get(s.id, "cus_a"), s);
    clock.advanceMs(1);
    assert.equal(reasonOf(() => store.get(s.id, "cus_a")), "NOT_FOUND");
    assert.equal(store.size, 0);
  });

  it("a running step keeps its session alive past the TTL", () => {
    const { store, clock, timer } = fixture();
    const s = store.beginStep(store.open(init({ ttlS: 1 })).id, "cus_a");
    clock.advanceMs(5_000);
    timer.fn!();
    assert.equal(store.size, 1);
    store.endStep(s, { costMicros: 0, decided: true });
    clock.advanceMs(1_000);
    timer.fn!();
    assert.equal(store.size, 0);
  });

  it("the sweep runs only while sessions are open and removes the expired ones", () => {
    const { store, clock, timer } = fixture();
    assert.equal(timer.fn, undefined, "no timer before the first session");
    store.open(init({ ttlS: 1 }));
    const long = store.open(init({ ttlS: 100 }));
    assert.equal(timer.starts, 1);
    clock.advanceMs(1_000);
    timer.fn!();
    assert.equal(store.size, 1);
    store.close(long.id, "cus_a");
    assert.equal(timer.fn, undefined, "the timer stops with the last session");
  });

  it("the per-key bound refuses with RATE_LIMITED and a retry-after; closing one makes room", () => {
    const { store, clock } = fixture();
    const first = store.open(init({ ttlS: 10 }));
    store.open(init({ ttlS: 10 }));
    clock.advanceMs(2_500);
    let refused: ServiceError | undefined;
    try {
      store.open(init());
    } catch (err) {
      refused = err as ServiceError;
    }
    assert.equal(refused?.reason, "RATE_LIMITED");
    assert.equal(refused?.retryAfterS, 8);
    store.open(init({ keyId: "key_b" }));
    store.close(first.id, "cus_a");
    assert.equal(store.open(init()).keyId, "key_a");
  });

  it("the server's bound refuses with UNAVAILABLE; an expired session frees its place", () => {
    const { store, clock } = fixture({ perKeyMax: 5, totalMax: 2 });
    store.open(init({ ttlS: 1 }));
    store.open(init({ ttlS: 10 }));
    assert.equal(reasonOf(() => store.open(init({ keyId: "key_c" }))), "UNAVAILABLE");
    clock.advanceMs(1_000);
    assert.equal(store.open(init({ keyId: "key_c" })).keyId, "key_c");
  });

  it("a second step while one runs is refused naming session_id; the session then takes the next", () => {
    const { store } = fixture();
    const s = store.open(init());
    const running = store.beginStep(s.id, "cus_a");
    let refused: ServiceError | undefined;
    try {
      store.beginStep(s.id, "cus_a");
    } catch (err) {
      refused = err as ServiceError;
    }
    assert.equal(refused?.reason, "INVALID_ARGUMENT");
    assert.equal(refused?.details.field, "session_id");
    store.endStep(running, { costMicros: 1300, decided: true, mean: new Float32Array(48) });
    store.endStep(store.beginStep(s.id, "cus_a"), { costMicros: 200, decided: false });
    assert.equal(s.steps, 1, "a failed step is no decision");
    assert.equal(s.costMicros, 1500, "but what it was charged counts");
    assert.equal(s.mean!.length, 48);
  });

  it("a closed session is NOT_FOUND afterwards", () => {
    const { store } = fixture();
    const s = store.open(init());
    assert.equal(store.close(s.id, "cus_a"), s);
    assert.equal(reasonOf(() => store.beginStep(s.id, "cus_a")), "NOT_FOUND");
  });
});
