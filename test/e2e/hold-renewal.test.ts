// A request that outlives its hold TTL (here: held 2.5 s in front of the engine, as a long queue wait
// would, with DREAM_HOLD_TTL_MS=1000 and the server's own 1 s sweeper running) is billed exactly:
// its server renews the hold while it runs, so the sweeper never expires it and the post captures.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { DreamClient, packActions } from "../../clients/typescript/src";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import type { ModelEngine } from "../../src/service/ports";
import { startHarness, testActions, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const ROLLOUT_MICROS = 24_500; // 49 frames x 500 µUSD
const WAIT_MS = 2_500; // 2.5 x the hold TTL

const backends: { name: string; env: Record<string, string | undefined> }[] = [{ name: "embedded ledger + in-process balances", env: { DATABASE_URL: "", REDIS_URL: "" } }];
if (process.env.DATABASE_URL && process.env.REDIS_URL) {
  backends.push({ name: "Postgres ledger + Redis balances", env: { DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: process.env.REDIS_URL } });
}
if (process.env.DATABASE_URL) backends.push({ name: "Postgres ledger + in-process balances", env: { DATABASE_URL: process.env.DATABASE_URL, REDIS_URL: "" } });

for (const backend of backends) {
  describe(`e2e: a request longer than the hold TTL (${backend.name})`, function () {
    this.timeout(120_000);
    let h: Harness;

    before(async () => {
      h = await startHarness({ ...backend.env, DREAM_HOLD_TTL_MS: "1000" });
    });
    after(async () => h?.stop());

    it("is posted with every frame captured, never expired; the balance is charged exactly once", async () => {
      const engine = h.app.registry.get(TINY).engine as ModelEngine;
      const submit = engine.submit.bind(engine);
      // Hold the request back before the engine sees it, as a queue would.
      engine.submit = (request, sink) => void setTimeout(() => submit(request, sink), WAIT_MS);
      try {
        const key = await h.newKey(1);
        const client = new DreamClient({ address: h.grpcAddress, apiKey: key.rawKey });
        const requestId = randomUUID();
        const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: testFrame(48, 64), height: 48, width: 64 };
        const started = Date.now();
        const res = await client.predictBatch({ model: TINY, startFrame, candidates: [packActions(testActions(48, 384, 0), 48, 384)], requestId });
        client.close();
        assert.ok(Date.now() - started >= WAIT_MS, "the request outlived its hold TTL");
        assert.equal(res.response.summary?.cost?.micros, ROLLOUT_MICROS);
        const mine = (await h.app.billing.transactions(key.customerId, 10)).filter((t) => t.requestId === requestId);
        assert.deepEqual(mine.map((t) => [t.kind, t.amountMicros]), [["debit", -ROLLOUT_MICROS]], "captured in full: no expiry refund");
        const balance = await h.balanceOf(key.customerId);
        assert.deepEqual([balance.balanceMicros, balance.heldMicros], [1_000_000 - ROLLOUT_MICROS, 0]);
        assert.deepEqual((await h.app.billing.reconcile({ repair: false })).drift, []);
      } finally {
        engine.submit = submit;
      }
    });
  });
}
