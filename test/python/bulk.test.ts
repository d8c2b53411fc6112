// The Python SDK's bulk calls against the real server (the e2e harness: tiny model, embedded ledger):
// test/python/bulk_e2e.py runs estimate_cost, predict_many into RolloutSink.dir (MP4 and PNG), the same
// run id again (every row refused as already used: nothing billed twice) and, when the server serves
// dream.v1.Jobs, jobs.create/wait with uploaded rows. This file checks the exit code and the facts it
// prints against the server's own ledger.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runChild, startHarness, type Harness } from "../e2e/harness";

describe("Python SDK bulk calls against the real server", function () {
  this.timeout(300_000);
  let h: Harness;
  let work: string;

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "dream-bulk-"));
    h = await startHarness({ DREAM_JOBS_DIR: path.join(work, "jobs") }, 10);
  });
  after(async () => {
    await h?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("python3 test/python/bulk_e2e.py: estimate_cost, predict_many (MP4, PNG, a rerun billed nothing), jobs when served", async () => {
    const probe = await fetch(`${h.httpBase}/v1/jobs?limit=1`, { headers: { authorization: `Bearer ${h.apiKey}` } });
    const jobsServed = probe.status === 200;
    const jobsDir = path.join(work, "jobs");
    fs.mkdirSync(jobsDir, { recursive: true });
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PYTHONDONTWRITEBYTECODE: "1",
      DREAM_BASE_URL: h.httpBase,
      DREAM_API_KEY: h.apiKey,
      DREAM_ENGINE_API_KEY: "",
      BULK_WORK_DIR: work,
      BULK_JOBS_DIR: jobsServed ? jobsDir : "",
    };
    const { code, stdout, stderr } = await runChild("python3", [path.join("test", "python", "bulk_e2e.py")], env);
    assert.equal(code, 0, `bulk_e2e.py failed (exit ${code}):\n${stderr}\n${stdout}`);
    const facts = JSON.parse(stdout.trim().split("\n").pop()!) as {
      estimate_micros: number;
      predict_many: { cost_micros: number; request_ids: string[] };
      png_cost_micros: number;
      job?: { job_id: string; cost_micros: number };
    };
    assert.equal(facts.estimate_micros, 23 * 500);
    assert.deepEqual(facts.predict_many.request_ids, ["bulk-e2e-row-0", "bulk-e2e-row-1", "bulk-e2e-row-2", "bulk-e2e-row-3"]);
    assert.match(stderr, /predict_many dream-reference-tiny: 4\/4 rows \(100%\)/, "the plain progress bar on stderr");

    // The ledger: each predict_many row debited once (the rerun added nothing), the PNG run once more.
    const spent = 23 * 500 * 2 + (facts.job ? facts.job.cost_micros : 0);
    const balance = await h.balanceOf(h.customerId);
    assert.equal(balance.balanceMicros, 10_000_000 - spent);
    const tx = await h.app.billing.transactions(h.customerId, 100);
    for (const id of facts.predict_many.request_ids) {
      assert.equal(tx.filter((t) => t.requestId === id && t.amountMicros < 0).length, 1, `${id} debited once`);
    }
    if (!jobsServed) console.log("      (the server does not serve dream.v1.Jobs yet: the jobs half was skipped)");
  });
});
