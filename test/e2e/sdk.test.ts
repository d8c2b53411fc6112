// The Python SDK (clients/python, `import dream`) end to end against the real server: starts the
// harness (tiny 48x64 model), makes a funded key, a $0.01 key and a key limited to 1 request/s, and runs
// test/e2e/sdk_e2e.py with DREAM_BASE_URL / DREAM_API_KEY set and DREAM_FFMPEG pointing at the npm
// ffmpeg so Rollout.frames decodes. The script checks models.list/get, predict (49 frames, $0.0245),
// predict_batch K=3, billing, and the error classes (402/404/401/400/429, client-side validation); this
// file checks its exit code and the facts it prints, against the server's own ledger.
import assert from "node:assert/strict";
import path from "node:path";
import { runChild as run, startHarness, type Harness } from "./harness";

describe("e2e: Python SDK against the real server", function () {
  this.timeout(300_000);
  let h: Harness;

  before(async () => {
    h = await startHarness({}, 10);
  });
  after(async () => h?.stop());

  it("python3 test/e2e/sdk_e2e.py: list/get, predict (49 frames decoded, $0.0245), predict_batch K=3, billing, error classes", async () => {
    const poor = await h.newKey(0.01);
    const limited = await h.newKey(1);
    const [info] = await h.app.billing.listKeys(limited.customerId);
    await h.app.billing.setRateLimit(info!.keyId, { ratePerS: 1, burst: 1 });
    const ffmpeg = (require("@ffmpeg-installer/ffmpeg") as { path: string }).path;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PYTHONDONTWRITEBYTECODE: "1",
      DREAM_BASE_URL: h.httpBase,
      DREAM_API_KEY: h.apiKey,
      DREAM_ENGINE_API_KEY: "",
      DREAM_POOR_API_KEY: poor.rawKey,
      DREAM_LIMITED_API_KEY: limited.rawKey,
      DREAM_FFMPEG: ffmpeg,
    };
    const { code, stdout, stderr } = await run("python3", [path.join("test", "e2e", "sdk_e2e.py")], env);
    assert.equal(code, 0, `sdk_e2e.py failed (exit ${code}):\n${stderr}\n${stdout}`);
    const facts = JSON.parse(stdout.trim().split("\n").pop()!);
    assert.deepEqual(facts.predict.frames, 49);
    assert.equal(facts.predict.cost_usd, 0.0245);
    assert.equal(facts.predict.charged_micros, 24_500);
    assert.deepEqual(facts.batch, { k: 3, cost_usd: 0.0735, frames: [49, 49, 49] });
    assert.equal(facts.rate_limit.retry_after, 1);

    // The server's ledger agrees with what the SDK saw: $10 − one rollout − two K=3 batches.
    const balance = await h.app.billing.balance(h.customerId);
    assert.equal(balance.balanceMicros, 10_000_000 - 24_500 - 2 * 73_500);
    assert.equal(facts.balance_micros, balance.balanceMicros);
    const tx = await h.app.billing.transactions(h.customerId, 10);
    assert.ok(tx.some((t) => t.requestId === facts.predict.request_id && t.amountMicros === -24_500), "the SDK's request id is the ledger's");
  });
});
