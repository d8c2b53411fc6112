// The engine started end to end with REDIS_URL=redis+cluster://… (a private 3+3 cluster started here):
// the composition root wires the cluster into the balance store and the rate limiter, and a paid
// predict is reserved, run, posted and rate-limited through it. Needs redis-server and redis-cli.
import assert from "node:assert/strict";
import fs from "node:fs";
import { DreamClient, packActions } from "../../clients/typescript/src";
import { FrameEncoding } from "../../src/gen/dream/v1/dream";
import { RedisClusterProcess } from "../billing/helpers/redis-cluster";
import { startHarness, testActions, testFrame, type Harness } from "./harness";

const TINY = "dream-reference-tiny";
const ROLLOUT_MICROS = 24_500;

describe("e2e billing and rate limits on a Redis Cluster", function () {
  this.timeout(120_000);
  let cluster: RedisClusterProcess;
  let h: Harness;

  before(async () => {
    cluster = await RedisClusterProcess.start();
    h = await startHarness({ DATABASE_URL: "", REDIS_URL: cluster.url });
  });
  after(async () => {
    // Not h.stop(): its clean-up of shared Redis keys speaks to a standalone Redis; this cluster is
    // private and goes away whole.
    try {
      if (h) {
        h.client.close();
        await h.app.shutdown();
        fs.rmSync(h.app.config.dataDir, { recursive: true, force: true });
      }
    } finally {
      await cluster?.stop(); // whatever failed above, no redis-server outlives the suite
    }
  });

  it("reserves, runs, posts and rate-limits a paid predict through the cluster", async () => {
    const status = await h.app.billing.healthChecks();
    assert.deepEqual(status, { ledger: "ok", balances: "ok" });
    const key = await h.newKey(1);
    const client = new DreamClient({ address: h.grpcAddress, apiKey: key.rawKey });
    const startFrame = { encoding: FrameEncoding.RAW_RGB8, data: testFrame(48, 64), height: 48, width: 64 };
    const one = await client.predictBatch({ model: TINY, startFrame, candidates: [packActions(testActions(48, 384, 0), 48, 384)] });
    client.close();
    assert.equal(one.response.summary?.cost?.micros, ROLLOUT_MICROS);
    assert.match(String(one.headers["ratelimit"]), /^"per-key";r=\d+;t=\d+$/);
    assert.equal((await h.balanceOf(key.customerId)).balanceMicros, 1_000_000 - ROLLOUT_MICROS);
    const report = await h.app.billing.reconcile({ repair: false });
    assert.deepEqual([report.storeKind, report.ok, report.drift], ["redis", true, []]);
  });
});
